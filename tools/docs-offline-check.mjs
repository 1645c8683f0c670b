// Opens the documentation pages in headless Chromium, records every request they make,
// and fails if any goes to another host, if the page reports a blocked request
// (Content-Security-Policy) or a script error, or if it does not render.
// Usage: node docs-offline-check.mjs BASE_URL OUT_DIR   (scripts/docs_offline_check.py runs it)
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, outDir] = process.argv.slice(2);
if (!base || !outDir) {
  console.error("usage: node docs-offline-check.mjs BASE_URL OUT_DIR");
  process.exit(2);
}
const origin = new URL(base).origin;
const pages = [
  // name, path, an element that exists once the page has rendered the document
  ["swagger-ui", "/api/v1/docs/", ".opblock-tag-section"],
  ["redoc", "/api/v1/redoc/", ".menu-content li"],
  // One operation opened, to see its examples rendered.
  ["swagger-ui-operation", "/api/v1/docs/", ".opblock-tag-section", "#operations-projects-projects_partial_update"],
  ["redoc-operation", "/api/v1/redoc/#tag/projects/operation/projects_partial_update", ".menu-content li"],
];
const local = (url) => url.startsWith("data:") || url.startsWith("blob:") || new URL(url).origin === origin;

mkdirSync(outDir, { recursive: true });
// Both pages list the tags in the document's order (pillars, goals, agencies, projects, ...).
const spec = await (await fetch(`${base}/api/v1/schema/?format=json`)).json();
const tagOrder = spec.tags.map((tag) => tag.name);
const shownTags = {
  "swagger-ui": () => [...document.querySelectorAll(".opblock-tag")].map((e) => e.dataset.tag),
  redoc: () =>
    [...document.querySelectorAll(".menu-content li[data-item-id^='tag/']")]
      .filter((e) => /^tag\/[^/]+$/.test(e.dataset.itemId))
      .map((e) => e.querySelector("label").textContent.trim()),
};
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});
const failures = [];
try {
  for (const [name, path, ready, open] of pages) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const requests = [];
    page.on("request", (request) => requests.push(request.url()));
    page.on("console", (message) => {
      if (message.type() === "error") failures.push(`${name}: console error: ${message.text()}`);
    });
    page.on("pageerror", (error) => failures.push(`${name}: script error: ${error.message}`));
    await page.addInitScript(() => {
      window.__violations = [];
      document.addEventListener("securitypolicyviolation", (event) =>
        window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`),
      );
    });
    const response = await page.goto(base + path, { waitUntil: "networkidle", timeout: 60000 });
    if (!response || response.status() !== 200) failures.push(`${name}: HTTP ${response?.status()}`);
    try {
      await page.waitForSelector(ready, { timeout: 30000 });
    } catch {
      failures.push(`${name}: did not render (${ready} never appeared)`);
    }
    if (open) {
      await page.click(`${open} .opblock-summary-control`);
      await page.waitForSelector(`${open}.is-open .responses-wrapper`);
      await page.locator(`${open}`).scrollIntoViewIfNeeded();
    }
    await page.waitForLoadState("networkidle");
    await page.waitForTimeout(500); // let the page scroll to a deep link
    if (shownTags[name]) {
      const shown = await page.evaluate(shownTags[name]);
      if (JSON.stringify(shown) !== JSON.stringify(tagOrder)) {
        failures.push(`${name}: tags shown as ${shown.join(", ")}; expected ${tagOrder.join(", ")}`);
      }
    }
    // The favicon is asked for separately by the browser: make sure it is ours and there.
    const icon = await page.evaluate(() => document.querySelector("link[rel~='icon']")?.href ?? "/favicon.ico");
    const iconResponse = await page.request.get(new URL(icon, base).href);
    if (iconResponse.status() !== 200) failures.push(`${name}: favicon ${icon} is ${iconResponse.status()}`);
    requests.push(new URL(icon, base).href);
    for (const violation of await page.evaluate(() => window.__violations)) {
      failures.push(`${name}: blocked by the page's Content-Security-Policy: ${violation}`);
    }
    const outside = [...new Set(requests.filter((url) => !local(url)))];
    for (const url of outside) failures.push(`${name}: request leaves ${origin}: ${url}`);
    const shot = join(outDir, `${name}.png`);
    await page.screenshot({ path: shot });
    console.log(`${name}: ${requests.length} requests, all to ${origin}; screenshot ${shot}`);
    await context.close();
  }
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
console.log("docs offline: ok");
