"""docs/deployment.md stays true to the code: it names every setting (computed from `Settings`
when the test runs, so a setting added later fails here until it is documented), and every
`onething` command, repository file, HTTP path and section link it names exists. The shipped
example settings file lists every setting with values `Settings` accepts, and the shipped
systemd unit reads that file and runs a real command."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from types import SimpleNamespace
from typing import cast
from unittest import mock

import pytest
from starlette.routing import Mount

from services.config import Settings
from services.runtime import Runtime
from web import cli
from web.app import create_app

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before it kept included routers whole: `app.routes` is flat

    def iter_route_contexts(routes):
        return routes


PROJECT = Path(__file__).resolve().parents[1]
GUIDE = PROJECT / "docs" / "deployment.md"
ENV_EXAMPLE = PROJECT / "deploy" / "onething.env.example"
UNIT = PROJECT / "deploy" / "systemd" / "onething.service"

SETTING = re.compile(r"\bONETHING_[A-Z0-9_]+")
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SPAN = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# A repository path as the guide writes it: relative to the checkout, or inside the checkout the
# guide installs (/opt/onething/src/...).
TOP_DIRS = (
    "bench|bpmn|demo|deploy|docs|engine|examples|forms|requirements|scripts|services|tests|web"
)
REPO_PATH = re.compile(rf"(?:/opt/onething/src/)?((?:{TOP_DIRS})/[\w./-]*)")
# Addresses of the deployment the guide describes: a URL on one of them names an HTTP path.
OUR_HOSTS = re.compile(
    r"https?://(?:onething\.example\.gov\.cn|10\.0\.0\.1[12]:8000)(/[^\s'\"`)]*)"
)
# First segments of absolute paths that are files on a host, not HTTP paths.
FILESYSTEM = {"bin", "boot", "dev", "etc", "home", "lib", "mnt", "opt", "proc", "root", "run"}
FILESYSTEM |= {"sbin", "srv", "sys", "tmp", "usr", "var"}
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "<<"}


def _settings() -> set[str]:
    return {f"ONETHING_{name.upper()}" for name in Settings.model_fields}


def _code(text: str) -> list[str]:
    """The guide's code: each line of its fenced blocks, and each inline code span outside
    them."""
    found: list[str] = []
    for block in FENCE.findall(text):
        found.extend(line for line in block.splitlines() if line.strip())
    found.extend(SPAN.findall(FENCE.sub("", text)))
    return found


def _words(snippet: str) -> list[str]:
    try:
        return shlex.split(snippet, comments=True)
    except ValueError:  # not shell (an unbalanced quote in Python or prose)
        return snippet.split()


# --- commands ------------------------------------------------------------------------------------


class _Built(Exception):
    pass


def cli_parser() -> argparse.ArgumentParser:
    """The `onething` parser exactly as `web.cli.main` builds it (caught before it parses)."""
    built: list[argparse.ArgumentParser] = []

    def catch(self, args=None, namespace=None):
        built.append(self)
        raise _Built

    with mock.patch.object(argparse.ArgumentParser, "parse_args", catch), pytest.raises(_Built):
        cli.main([])
    return built[0]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    for action in parser._actions:  # noqa: SLF001 - argparse offers no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return action.choices
    return None


def invocations(snippet: str) -> list[list[str]]:
    """The `onething` command lines in a snippet of shell, as the words after `onething` (one
    line per alternative of `a|b`). The name counts where a command starts (first, after an
    operator, `exec` or `--`); elsewhere it is a user or database name (`runuser -u onething`,
    `createdb --owner=onething onething`, a `pg_hba.conf` line)."""
    words = _words(snippet)
    found = []
    for at, word in enumerate(words):
        if word != "onething" and not word.endswith("/bin/onething"):
            continue
        if at > 0 and words[at - 1] not in SHELL_OPERATORS | {"exec", "--", "sudo"}:
            continue
        rest = []
        for following in words[at + 1 :]:
            if following in SHELL_OPERATORS:
                break
            rest.append(following)
        if not rest or not re.fullmatch(r"-.*|[a-z][a-z|-]*", rest[0]):
            continue
        first = rest[0].split("|") if not rest[0].startswith("-") else [rest[0]]
        deeper = rest[1].split("|") if len(rest) > 1 and "|" in rest[1] else None
        for head in first:
            for second in deeper or [None]:
                found.append([head, *([second] if second else rest[1:2]), *rest[2:]])
    return found


def command_problem(parser: argparse.ArgumentParser, words: list[str]) -> str | None:
    """Why `onething <words>` is not a command of `parser` (None when it is): an unknown
    subcommand, or an option the command does not take. Arguments are not checked."""
    current, at = parser, 0
    while at < len(words) and not words[at].startswith("-"):
        choices = _subcommands(current)
        if choices is None:
            break
        if words[at] not in choices:
            return f"no command {words[at]!r} (choices: {sorted(choices)})"
        current, at = choices[words[at]], at + 1
    else:
        if _subcommands(current) is not None and at == len(words):
            return None  # a group named as a whole (`onething keys`)
    known = current._option_string_actions  # noqa: SLF001
    for word in words[at:]:
        if word.startswith("-") and word.split("=", 1)[0] not in known:
            return f"no option {word!r} (options: {sorted(known)})"
    return None


# --- HTTP paths ----------------------------------------------------------------------------------


def app_paths() -> tuple[list[str], list[str]]:
    """The application's route paths and its mounts' prefixes."""
    app = create_app(cast(Runtime, SimpleNamespace()))
    routes, mounts = [], []
    for route in iter_route_contexts(app.routes):
        if isinstance(getattr(route, "original_route", route), Mount):
            mounts.append(route.path)
        else:
            routes.append(route.path)
    return routes, mounts


def path_matches(written: str, template: str) -> bool:
    """Whether a path as the guide writes it (`/readyz`, `/verify/<id>`) is an instance of a
    route's path template (`/verify/{public_id}`)."""
    ours, theirs = written.rstrip("/").split("/"), template.rstrip("/").split("/")
    if len(ours) != len(theirs):
        return False
    return all(
        w == t or (t.startswith("{") and (w[:1] in "{<" or w.isalnum()))
        for w, t in zip(ours, theirs, strict=True)
    )


def http_paths(text: str) -> set[str]:
    found = set()
    for snippet in _code(text):
        found.update(OUR_HOSTS.findall(snippet))
        words = snippet.split()
        if len(words) == 2 and words[0] in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            words = words[1:]  # `GET /health/ready`
        path = words[0] if len(words) == 1 else ""
        if re.fullmatch(r"/[\w{}<>./-]+", path) and path.split("/")[1] not in FILESYSTEM:
            found.add(path)
    return found


def _slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    kept = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return kept.replace(" ", "-")


# --- the tests -----------------------------------------------------------------------------------


def test_every_setting_is_documented_and_every_documented_setting_exists():
    text = GUIDE.read_text(encoding="utf-8")
    settings = _settings()
    missing = sorted(settings - set(SETTING.findall(text)))
    assert not missing, f"docs/deployment.md does not explain these settings: {missing}"
    unknown = sorted(set(SETTING.findall(text)) - settings)
    assert not unknown, f"docs/deployment.md names settings the code does not have: {unknown}"


def test_every_onething_command_in_the_guide_exists():
    parser = cli_parser()
    lines = [line for snippet in _code(GUIDE.read_text("utf-8")) for line in invocations(snippet)]
    assert len(lines) >= 10
    problems = {
        " ".join(["onething", *line]): problem
        for line in lines
        if (problem := command_problem(parser, line)) is not None
    }
    assert not problems, f"docs/deployment.md names commands the CLI does not have: {problems}"


def test_every_repository_file_the_guide_names_exists():
    text = GUIDE.read_text(encoding="utf-8")
    named = {
        match.group(1).rstrip(".,:")
        for snippet in _code(text)
        for word in _words(snippet)
        if (match := REPO_PATH.fullmatch(word.strip("()[],;:'\"")))
    }
    named |= {
        str((GUIDE.parent / link).resolve().relative_to(PROJECT))
        for link in LINK.findall(text)
        if not link.startswith(("#", "http://", "https://"))
    }
    assert {"deploy/nginx/onething.conf", "deploy/systemd/onething.service"} <= named
    missing = sorted(path for path in named if not (PROJECT / path).exists())
    assert not missing, f"docs/deployment.md names files the repository does not have: {missing}"


def test_every_http_path_the_guide_names_is_a_route():
    routes, mounts = app_paths()
    named = http_paths(GUIDE.read_text(encoding="utf-8"))
    assert {"/healthz", "/readyz", "/metrics"} <= named
    unknown = sorted(
        path
        for path in named
        if not any(path_matches(path, route) for route in routes)
        and not any(path == m or path.startswith(f"{m}/") for m in mounts)
    )
    assert not unknown, f"docs/deployment.md names paths the application does not serve: {unknown}"


def test_every_section_link_in_the_guide_leads_to_a_heading_and_no_heading_repeats():
    text = GUIDE.read_text(encoding="utf-8")
    titles = re.findall(r"^#+ (.+)$", FENCE.sub("", text), re.MULTILINE)
    repeated = sorted({title for title in titles if titles.count(title) > 1})
    assert not repeated, f"docs/deployment.md has these headings twice: {repeated}"
    headings = {_slug(title) for title in titles}
    anchors = {link[1:] for link in LINK.findall(text) if link.startswith("#")}
    assert len(anchors) >= 5
    assert not sorted(anchors - headings), f"links to no heading: {sorted(anchors - headings)}"


def test_the_example_settings_file_lists_every_setting_with_values_settings_accept(monkeypatch):
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    listed = re.findall(r"^#?(ONETHING_[A-Z0-9_]+)=", text, re.MULTILINE)
    assert sorted(set(listed)) == sorted(_settings()), "the example should list each setting"
    assert len(listed) == len(set(listed)), "a setting is listed twice"
    for name in _settings():
        monkeypatch.delenv(name, raising=False)
    for line in text.splitlines():
        if line.startswith("ONETHING_"):
            [assignment] = shlex.split(line)  # as the operators' command reads it (sh)
            name, value = assignment.split("=", 1)
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.database_url and settings.database_url.startswith("postgresql+psycopg://")
    assert settings.secure_cookies and settings.trusted_proxies


def test_the_systemd_unit_reads_the_settings_file_and_runs_a_real_command():
    text = UNIT.read_text(encoding="utf-8")
    assert "EnvironmentFile=/etc/onething/onething.env" in text.splitlines()
    [start] = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecStart=")]
    [words] = invocations(start)
    assert words[0] == "serve"
    assert command_problem(cli_parser(), words) is None


def test_the_checks_can_fail():
    parser = cli_parser()
    assert command_problem(parser, ["db", "upgrade"]) is None
    assert command_problem(parser, ["db", "downgrade"]) is not None
    assert command_problem(parser, ["serve", "--worker", "2"]) is not None
    assert invocations("onething db upgrade|current") == [["db", "upgrade"], ["db", "current"]]
    assert invocations("runuser -u onething -- sh") == []
    assert invocations("createdb --owner=onething onething") == []
    assert invocations("host  onething  onething  10.0.0.11/32  scram-sha-256") == []
    assert path_matches("/verify/<id>", "/verify/{public_id}")
    assert not path_matches("/readyzz", "/readyz")
    assert http_paths("`/etc/onething/onething.env` and `GET /readyz`") == {"/readyz"}
