"""The JavaScript client's files, checked without a browser: with each other, ES2020 and TypeScript.

Node.js imports the module and runs the classic script; TypeScript 5 compiles
pages that use the declarations; acorn parses the sources as ES2020. TypeScript
and acorn come through ``npx --yes`` (npm's cache, or the registry). Skipped
without ``node`` and ``npx``, except in CI. What the client does on the wire
is tested in a browser (test_client_browser_e2e.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import ROOT
from tests.skipping import unavailable

pytestmark = pytest.mark.e2e

STATIC = ROOT / "django_asgi_ws" / "static" / "django_asgi_ws"
TSC = ["npx", "--yes", "-p", "typescript@5", "tsc"]
ACORN = ["npx", "--yes", "acorn@8", "--ecma2020", "--silent"]
# What a page's TypeScript is compiled with: strict, for ES2020 browsers, no Node types.
TSCONFIG = {
    "compilerOptions": {
        "noEmit": True,
        "strict": True,
        "target": "es2020",
        "lib": ["es2020", "dom"],
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "types": [],
    }
}

if not (shutil.which("node") and shutil.which("npx")):
    unavailable("Needs Node.js (node and npx): apt-get install nodejs npm.")


def run(argv: list[str], cwd: Path = ROOT) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def node(script: str) -> object:
    """What the ES module *script* prints, JSON-decoded."""
    return json.loads(run(["node", "--input-type=module", "-e", script]))


def compile_typescript(directory: Path, files: dict[str, str]) -> subprocess.CompletedProcess[str]:
    for name, source in files.items():
        (directory / name).write_text(source, encoding="utf-8")
    config = {**TSCONFIG, "files": list(files)}
    (directory / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    return subprocess.run(
        [*TSC, "-p", "tsconfig.json"], cwd=directory, capture_output=True, text=True, timeout=300
    )


def runtime_names() -> dict[str, list[str]]:
    """The names the module exports, and those the global holds, at run time."""
    found = node(
        f"const module = await import({json.dumps((STATIC / 'client.mjs').as_uri())});\n"
        "const global = globalThis.DjangoAsgiWs;\n"
        "const same = Object.keys(module).every((name) => module[name] === global[name]);\n"
        "console.log(JSON.stringify({module: Object.keys(module), global: Object.keys(global),"
        " same}));"
    )
    assert isinstance(found, dict)
    assert found.pop("same") is True, "the module exports other objects than the global's"
    return found


def test_the_module_exports_the_globals_classes() -> None:
    assert runtime_names() == {
        "module": ["Connection", "RequestError"],
        "global": ["Connection", "RequestError"],
    }


def union(names: list[str]) -> str:
    return " | ".join(json.dumps(name) for name in names) or "never"


def exactly(declared: str, names: list[str]) -> str:
    """A TypeScript line that compiles only if the keys of *declared* are *names*."""
    return (
        f"type Names = {union(names)};\n"
        f"const exactly: [keyof typeof {declared}] extends [Names]\n"
        f"  ? ([Names] extends [keyof typeof {declared}] ? true : false) : false = true;\n"
    )


def test_the_declarations_declare_exactly_what_the_files_define(tmp_path: Path) -> None:
    names = runtime_names()
    result = compile_typescript(
        tmp_path,
        {
            "module.mts": (
                f"import * as client from {json.dumps(str(STATIC / 'client.mjs'))};\n"
                + exactly("client", names["module"])
            ),
            "global.ts": (
                f"/// <reference path={json.dumps(str(STATIC / 'client.d.ts'))} />\n"
                "namespace Check {\n" + exactly("DjangoAsgiWs", names["global"]) + "}\n"
            ),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


# A page's use of the client: every option, event, method and property, and
# mistakes the declarations must refuse (each line after @ts-expect-error).
MODULE_PAGE = """\
import { Connection, RequestError, type Events, type Options, type State } from "CLIENT";

const options: Options = {
  initialDelay: 500, maxDelay: 30000, backoffFactor: 2, restartDelay: 1000,
  connectTimeout: 10000, pingInterval: 25000, pingTimeout: 10000, requestTimeout: 10000,
  queueSize: 100, binaryType: "blob", protocol: true, ticket: async () => "t0k3n",
  ticketIn: "query",
  finalCodes: [4001], isFinal: (code, reason) => (code === 4002 ? true : reason ? false : null),
};
const connection = new Connection(new URL("wss://example.com/ws/"), options);
const stopListening: () => void = connection.on("message", ({ data, group, position }) => {
  const where: string | null = group ?? position;
  console.log(data.anything, where);
});
stopListening();
connection.on("state", ({ state }) => console.log(state satisfies State));
connection.on("open", ({ plain, reconnected }) => console.log(plain, reconnected));
connection.on("close", ({ code, reason }) => console.log(code.toFixed(), reason.trim()));
connection.on("reconnecting", ({ delay, failures }) => console.log(delay + failures));
connection.on("stop", ({ code, reason, unsent }) => console.log(code, reason, unsent.length));
connection.on("resync", ({ groups }) => groups.forEach((group: string) => console.log(group)));
connection.on("presence", ({ group, members }) => console.log(group, Object.keys(members)));
connection.on("join", ({ group, key, meta }) => console.log(group, key, meta));
connection.on("leave", ({ group, key }) => console.log(group, key));
connection.on("dropped", ({ data }) => console.log(data));
connection.on("error", ({ error }) => console.log(error));
const queued: boolean = connection.send({ text: "hello" });
connection.request<{ total: number }>({ sum: [1, 2] }, { timeout: 500 }).then(
  (reply) => reply.total.toFixed(),
  (error: unknown) => error instanceof RequestError && error.code.length + error.message.length,
);
const present: unknown[] | undefined = connection.members("room")["alice"];
connection.reconnect();
connection.close(4000, "bye");
console.log(queued, present, connection.url.length, connection.state === "stopped");
const detail: Events["stop"] = { code: 1000, reason: "", unsent: [] };
console.log(detail);

// @ts-expect-error: no such event
connection.on("opened", () => {});
// @ts-expect-error: no such option
new Connection("/ws/", { retries: 3 });
// @ts-expect-error: a delay is a number
new Connection("/ws/", { maxDelay: "30s" });
// @ts-expect-error: the state cannot be set
connection.state = "open";
connection.on("message", (detail) => {
  // @ts-expect-error: a message's detail has no code
  console.log(detail.code);
});
"""

SCRIPT_PAGE = """\
/// <reference path="CLIENT" />
const connection: DjangoAsgiWs.Connection = new DjangoAsgiWs.Connection("/ws/feed/");
connection.on("presence", ({ members }: { members: DjangoAsgiWs.Members }) => {
  console.log(members);
});
const failed = new DjangoAsgiWs.RequestError("timeout", "No reply.");
const isError: Error = failed;
console.log(isError, failed.code);
"""


def test_the_declarations_type_a_page(tmp_path: Path) -> None:
    result = compile_typescript(
        tmp_path,
        {
            "page.mts": MODULE_PAGE.replace("CLIENT", str(STATIC / "client.mjs")),
            "page.ts": SCRIPT_PAGE.replace("CLIENT", str(STATIC / "client.d.ts")),
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("name", "kind"), [("client.js", "script"), ("client.mjs", "module")])
def test_the_sources_are_es2020(name: str, kind: str) -> None:
    """No syntax newer than ES2020 (class fields, ``??=``...), for the browsers the docs promise."""
    run([*ACORN, *(["--module"] if kind == "module" else []), str(STATIC / name)])


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('"/ws/"', "Invalid URL"),  # no page to resolve a path against, in Node
        ('"ftp://example.com/"', "Not a websocket URL: ftp://example.com/"),
        ('"ws://example.com/", {retries: 3}', "Unknown option: retries"),
        ('"ws://example.com/", {maxDelay: "30s"}', "The option maxDelay must be a number >= 0"),
        ('"ws://example.com/", {queueSize: -1}', "The option queueSize must be a number >= 0"),
        (
            '"ws://example.com/", {protocol: false, ticket: "t"}',
            'Without the protocol, a ticket goes in the query: ticketIn: "query"',
        ),
    ],
)
def test_a_bad_argument_throws_a_type_error_naming_it(arguments: str, error: str) -> None:
    thrown = node(
        f"await import({json.dumps((STATIC / 'client.mjs').as_uri())});\n"
        f"try {{ new DjangoAsgiWs.Connection({arguments}); console.log('null'); }}\n"
        "catch (error) { console.log(JSON.stringify([error.name, error.message])); }"
    )
    assert isinstance(thrown, list)
    assert thrown[0] == "TypeError"
    assert thrown[1].startswith(error)
