"""A real MCP client for `devops-agent mcp`: the official Python SDK (`mcp`) over stdio.

Driven by tests/cli/mcp.rs: `python mcp_client.py SCENARIO CONFIG_JSON`. It runs the scenario
against the server and prints one JSON object with what it observed; the Rust test asserts on
it (and compares reports with the CLI's).
"""

import json
import os
import sys
import time

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp import types


def result_json(result):
    """The parts of a CallToolResult the tests look at."""
    return {
        "is_error": bool(result.is_error),
        "structured": result.structured_content,
        "text": "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text"),
    }


def server_pid():
    """The server: this process's child."""
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:
            return int(entry)
    return None


def marked(mark, exclude):
    """Living processes whose environment carries LIFETIME_MARK=mark, but `exclude`."""
    needle = f"LIFETIME_MARK={mark}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == exclude:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if needle in env and state != "Z":
            found.append(f"{entry} {args}")
    return found


def connect(config):
    params = StdioServerParameters(
        command=config["server"], args=config["args"], env=config["env"], cwd=config.get("cwd")
    )
    return stdio_client(params)


def roots_callback(config):
    client_roots = config.get("client_roots")
    if client_roots is None:
        return None

    async def list_roots(_context):
        return types.ListRootsResult(
            roots=[types.Root(uri="file://" + path) for path in client_roots]
        )

    return list_roots


async def session_scenario(config):
    out = {}
    async with connect(config) as (read, write):
        async with ClientSession(read, write, list_roots_callback=roots_callback(config)) as session:
            init = await session.initialize()
            out["server_name"] = init.server_info.name
            out["protocol_version"] = init.protocol_version
            tools = await session.list_tools()
            out["tools"] = sorted(t.name for t in tools.tools)
            out["validate_inputs"] = sorted(
                next(t for t in tools.tools if t.name == "validate").input_schema["properties"]
            )

            progress = []

            async def on_progress(value, total, message):
                progress.append({"progress": value, "total": total, "message": message})

            result = await session.call_tool(
                "validate",
                {"story_id": config["story"], "project": config["demo"]},
                progress_callback=on_progress,
            )
            out["validate"] = result_json(result)
            out["validate_progress"] = progress

            result = await session.call_tool("ports", {"project": config["broken"]})
            out["ports_broken"] = result_json(result)

            result = await session.call_tool(
                "validate", {"story_id": config["story"], "project": config["config_error"]}
            )
            out["config_error"] = result_json(result)

            result = await session.call_tool(
                "validate", {"story_id": config["story"], "project": config["outside"]}
            )
            out["outside_server_roots"] = result_json(result)
            if "outside_client" in config:
                result = await session.call_tool("ports", {"project": config["outside_client"]})
                out["outside_client_roots"] = result_json(result)

            resources = await session.list_resources()
            out["resources"] = sorted(r.uri for r in resources.resources)
            for name, uri in config.get("read", {}).items():
                read = await session.read_resource(uri)
                out[name] = json.loads(read.contents[0].text)

            if "allocate" in config:
                result = await session.call_tool("ports_allocate", {"project": config["allocate"]})
                out["ports_allocate"] = result_json(result)

            result = await session.call_tool("list_checks", {})
            out["list_checks"] = result_json(result)
            result = await session.call_tool("explain_check", {"check_id": "no_conflicts"})
            out["explain_check"] = result_json(result)
            result = await session.call_tool("explain_check", {"check_id": "no_such_check"})
            out["explain_unknown"] = result_json(result)
    return out


async def cancel_scenario(config):
    out = {}
    async with connect(config) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            server = server_pid()
            started = anyio.Event()
            progress = []

            async def on_progress(value, total, message):
                progress.append(message)
                if "$ " in (message or ""):
                    started.set()

            pid_dir = config["pid_dir"]
            pid_files = [os.path.join(pid_dir, n) for n in ("stubborn.pid", "detached.pid")]
            async with anyio.create_task_group() as group:

                async def call():
                    await session.call_tool(
                        "build", {"project": config["project"]}, progress_callback=on_progress
                    )
                    out["completed_before_cancel"] = True

                group.start_soon(call)
                with anyio.fail_after(120):
                    await started.wait()
                    while not all(os.path.exists(p) and os.path.getsize(p) > 0 for p in pid_files):
                        await anyio.sleep(0.05)
                    # A second run of the same project while this one runs is refused.
                    result = await session.call_tool("ports", {"project": config["project"]})
                    out["while_running"] = result_json(result)
                    # A build that prints nothing still shows signs of life.
                    while not any("still running after" in (m or "") for m in progress):
                        await anyio.sleep(0.1)
                out["before_cancel"] = marked(config["mark"], server)
                # Cancelling the call's task makes the SDK send notifications/cancelled.
                group.cancel_scope.cancel()
            cancelled_at = time.monotonic()
            out["progress"] = progress
            survivors = marked(config["mark"], server)
            while survivors and time.monotonic() - cancelled_at < 30:
                await anyio.sleep(0.1)
                survivors = marked(config["mark"], server)
            out["after_cancel"] = survivors
            out["stopped_within_s"] = time.monotonic() - cancelled_at
            # The project is free again (the server frees it a moment after its run is reaped),
            # and the server still serves.
            for _ in range(50):
                result = await session.call_tool("ports", {"project": config["project"]})
                if not (result.is_error and "already being validated" in result_json(result)["text"]):
                    break
                await anyio.sleep(0.1)
            out["ports_after"] = result_json(result)
    return out


def shutdown_scenario(config):
    """The client goes away mid-build (stdin closed, no cancel): the server must stop the run
    and exit. Spoken as raw JSON-RPC lines, so no SDK shutdown policy (SIGTERM, SIGKILL of the
    server's group) stands in for the server's own behaviour."""
    import subprocess

    env = dict(os.environ)
    env.update(config["env"])
    server = subprocess.Popen(
        [config["server"], *config["args"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )

    def send(message):
        server.stdin.write((json.dumps(message) + "\n").encode())
        server.stdin.flush()

    send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}})
    initialized = json.loads(server.stdout.readline())
    send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "build", "arguments": {"project": config["project"]}}})
    pid_files = [os.path.join(config["pid_dir"], n) for n in ("stubborn.pid", "detached.pid")]
    deadline = time.monotonic() + 120
    while not all(os.path.exists(p) and os.path.getsize(p) > 0 for p in pid_files):
        if time.monotonic() > deadline:
            raise SystemExit("the build never started")
        time.sleep(0.05)
    before = marked(config["mark"], None)
    closed_at = time.monotonic()
    server.stdin.close()
    try:
        code = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        code = None
    return {
        "initialized": initialized.get("result", {}).get("serverInfo", {}).get("name"),
        "before_close": before,
        "exit_code": code,
        "exited_within_s": time.monotonic() - closed_at,
        "after_exit": marked(config["mark"], None),
    }


def main():
    scenario, config = sys.argv[1], json.loads(sys.argv[2])
    if scenario == "shutdown":
        out = shutdown_scenario(config)
    else:
        run = {"session": session_scenario, "cancel": cancel_scenario}[scenario]
        out = anyio.run(run, config)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
