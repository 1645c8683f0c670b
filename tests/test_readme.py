"""Every shell example in the README copy-pastes into bash and into zsh (macOS's default).

zsh differs where pasting bites: an unquoted `?`, `*` or `[` is a glob, and a glob that
matches no file stops the command ("no matches found"); and an interactive zsh does not
take `#` as a comment unless `interactive_comments` is set, so a trailing comment becomes
arguments. Bash passes both through. So a block's words with those characters are quoted,
and explanations live in the prose, not in the blocks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.backend_independent

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = [
    match.group(2)
    for match in re.finditer(r"^( *)```(?:sh|bash|shell)\n(.*?)^\1```", README, re.S | re.M)
]
QUOTED = re.compile(r"""'[^']*'|"(?:[^"\\]|\\.)*\"""")


def unquoted(block: str) -> str:
    return QUOTED.sub("''", block)


def test_the_readme_has_its_shell_examples() -> None:
    assert len(BLOCKS) >= 7
    assert any("curl" in block for block in BLOCKS)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.split()[0])
def test_no_unquoted_glob_or_comment(block: str) -> None:
    text = unquoted(block)
    assert not re.search(r"[?*\[\]]", text), block
    assert "#" not in text, block


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.split()[0])
def test_each_example_is_valid_shell(block: str) -> None:
    result = subprocess.run(["bash", "-n"], input=block, text=True, capture_output=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.split()[0])
def test_each_example_is_valid_zsh(block: str) -> None:
    result = subprocess.run(["zsh", "-n"], input=block, text=True, capture_output=True)
    assert result.returncode == 0, result.stderr


def test_the_check_catches_what_zsh_refuses() -> None:
    assert re.search(r"[?*\[\]]", unquoted("curl http://host/api/v1/projects/?lang=all"))
    assert not re.search(r"[?*\[\]]", unquoted("curl 'http://host/api/v1/projects/?lang=all'"))
    assert "#" in unquoted("make run    # serves")
