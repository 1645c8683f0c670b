// How a TypeScript client uses the types generated from api/v1/openapi.yaml
// (`npm run types` writes build/openapi.d.ts and compiles this file with tsc --strict).
import type { components, paths } from "../build/openapi";

type Project = components["schemas"]["Project"];
type ProjectPatch = components["schemas"]["PatchedProjectWriteRequest"];
type Problem = components["schemas"]["Problem"];
type ProjectList =
  paths["/api/v1/projects/"]["get"]["responses"][200]["content"]["application/json"];
type ListQuery = NonNullable<paths["/api/v1/projects/"]["get"]["parameters"]["query"]>;

export async function projectsOfPillar(base: string, pillar: string): Promise<Project[]> {
  const query: ListQuery = { pillar: [pillar], page_size: 100 };
  const url = `${base}/api/v1/projects/?pillar=${query.pillar?.join(",")}&page_size=${query.page_size}`;
  const response = await fetch(url);
  const page = (await response.json()) as ProjectList;
  return page.results;
}

// A safe update: read the ETag, send it back in If-Match; a 412 means read again.
export async function startProject(base: string, token: string, code: string): Promise<Project> {
  const url = `${base}/api/v1/projects/${code}/`;
  const headers = { Authorization: `Bearer ${token}` };
  const read = await fetch(url, { headers });
  const etag = read.headers.get("ETag") ?? "*";
  const change: ProjectPatch = { status: "2", planned_start: "2022-03-01" };
  const response = await fetch(url, {
    method: "PATCH",
    headers: { ...headers, "Content-Type": "application/json", "If-Match": etag },
    body: JSON.stringify(change),
  });
  if (!response.ok) {
    const problem = (await response.json()) as Problem;
    throw new Error(`${problem.code}: ${problem.detail}`);
  }
  return (await response.json()) as Project;
}
