"""Check a pre-annotated file (`zh-medner pre-annotate`) against a real Label Studio.

Label Studio is not a dependency of zh-medner: install it in a virtual environment of its own,
outside the project (about 2.5 minutes):

    python3 -m venv /tmp/ls-venv && /tmp/ls-venv/bin/pip install label-studio

    python scripts/check_label_studio.py tasks.json --label-studio /tmp/ls-venv/bin/label-studio \
        [--ml-backend pipelines/medner_trf] [--output metrics/label_studio_check.json]

The script starts Label Studio on 127.0.0.1 and a free port, with a temporary data folder and
a user token made for this run; creates a project whose labelling config has the nine CMeEE
labels (<Labels name="label" toName="text"> over <Text name="text" value="$text"/>); imports
the file through the API; and checks that every task and every prediction is there, as
written (regions, scores, model version), in the file's order (least confident first).

With --ml-backend MODEL it also serves MODEL with `zh-medner serve` and connects it to the
project as Label Studio's ML backend: Label Studio calls /health and /setup, and, asked for
predictions on a new task, /predict; the check compares what Label Studio stored with the
pre-annotation of the same text. Both servers are stopped and the data folder removed at the
end, whatever happens.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import typer
from wasabi import msg

from zh_medner.io import write_text_atomic
from zh_medner.labels import LABELS

LABEL_CONFIG = (
    '<View><Labels name="label" toName="text">'
    + "".join(f'<Label value="{label}"/>' for label in LABELS)
    + '</Labels><Text name="text" value="$text"/></View>'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url: str, proc: subprocess.Popen, log, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(
                f"{url}: the server exited ({proc.returncode}): {log.read()[-3000:]}"
            )
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url}: no answer within {timeout} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def regions(result: list[dict]) -> list[tuple]:
    return sorted(
        (
            r["from_name"],
            r["to_name"],
            r["value"]["start"],
            r["value"]["end"],
            r["value"]["text"],
            tuple(r["value"]["labels"]),
            r.get("score"),
        )
        for r in result
    )


def as_compared(tasks: list[dict]) -> list[tuple]:
    """(data, [(model version, score, regions)]) per task: what must survive the import."""
    return [
        (
            t["data"],
            [(p["model_version"], p.get("score"), regions(p["result"])) for p in t["predictions"]],
        )
        for t in tasks
    ]


def read_tasks(tasks_path: Path, label_studio: Path) -> list[dict]:
    """The tasks of TASKS_PATH; refuse a missing label-studio or an unreadable file."""
    if not label_studio.is_file():
        msg.fail(
            f"{label_studio}: no label-studio executable",
            "python3 -m venv /tmp/ls-venv && /tmp/ls-venv/bin/pip install label-studio",
            exits=1,
        )
    try:
        return json.loads(tasks_path.read_text(encoding="utf8"))
    except (OSError, json.JSONDecodeError) as e:
        msg.fail(f"{tasks_path}: {e}", "write it with `zh-medner pre-annotate`", exits=1)


@dataclass
class Servers:
    """The servers this check starts and their logs, in its temporary data folder."""

    data_dir: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list = field(default_factory=list)

    def start(self, cmd: list[str], log_name: str, env: dict | None = None):
        """(the process, its log): `cmd` started with its output in data_dir / log_name."""
        self.logs.append((self.data_dir / log_name).open("w+", encoding="utf8"))
        self.procs.append(
            subprocess.Popen(cmd, stdout=self.logs[-1], stderr=subprocess.STDOUT, env=env)
        )
        return self.procs[-1], self.logs[-1]

    def close(self) -> None:
        """Stop every server (the last started first), close the logs, remove the folder."""
        for proc in reversed(self.procs):
            stop(proc)
        for log in self.logs:
            log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def label_studio_command(label_studio: Path, port: int, token: str) -> list[str]:
    cmd = [str(label_studio), "start", "--no-browser", "--internal-host", "127.0.0.1"]
    cmd += ["--port", str(port), "--username", "check@zh-medner.local"]
    cmd += ["--password", secrets.token_hex(12), "--user-token", token]
    cmd += ["--enable-legacy-api-token", "--log-level", "WARNING"]
    return cmd


def label_studio_env(data_dir: Path) -> dict:
    return dict(
        os.environ,
        LABEL_STUDIO_BASE_DATA_DIR=str(data_dir),
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        # the ML backend runs on this machine's loopback: let Label Studio call it
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
    )


def check_import(ls: httpx.Client, tasks: list[dict], checks: dict) -> int:
    """Create the project, import the tasks and compare what is stored; the project's id."""
    project = ls.post(
        "/api/projects", json={"title": "zh-medner check", "label_config": LABEL_CONFIG}
    )
    project.raise_for_status()
    pid = project.json()["id"]
    imported = ls.post(f"/api/projects/{pid}/import", json=tasks)
    imported.raise_for_status()
    counts = imported.json()
    checks["imported_tasks"] = counts["task_count"]
    checks["imported_predictions"] = counts["prediction_count"]
    listed = ls.get(
        "/api/tasks", params={"project": pid, "fields": "all", "page_size": len(tasks)}
    ).json()["tasks"]
    listed.sort(key=lambda t: t["id"])  # the import order
    stored, written = as_compared(listed), as_compared(tasks)
    checks["predictions_as_written_in_order"] = stored == written
    checks["regions"] = sum(len(r) for _, preds in stored for _, _, r in preds)
    return pid


def connect_ml_backend(
    ls: httpx.Client, pid: int, model: str, servers: Servers, start_timeout: float, checks: dict
) -> None:
    """Serve `model` with `zh-medner serve` and connect it to the project as its ML backend."""
    port_ml = free_port()
    ml_url = f"http://127.0.0.1:{port_ml}"
    serve = [sys.executable, "-m", "zh_medner.serving.cli", "serve", model]
    serve += ["--port", str(port_ml), "--log-level", "warning"]
    proc, log = servers.start(serve, "ml_backend.log")
    wait_up(ml_url, proc, log, start_timeout)
    backend = ls.post("/api/ml", json={"url": ml_url, "project": pid, "title": "zh-medner"})
    backend.raise_for_status()
    checks["ml_backend_state"] = backend.json()["readable_state"]


def check_ml_prediction(ls: httpx.Client, pid: int, tasks: list[dict], checks: dict) -> None:
    """Import the first task's text anew, ask the ML backend for its predictions, compare."""
    text = tasks[0]["data"]["text"]
    new_task = ls.post(f"/api/projects/{pid}/import", json=[{"data": {"text": text}}])
    new_task.raise_for_status()
    everything = ls.get("/api/tasks", params={"project": pid, "page_size": len(tasks) + 1})
    new_id = max(t["id"] for t in everything.json()["tasks"])
    action = ls.post(
        "/api/dm/actions",
        params={"id": "retrieve_tasks_predictions", "project": pid},
        json={"selectedItems": {"all": False, "included": [new_id]}},
    )
    action.raise_for_status()
    predicted = ls.get("/api/predictions", params={"task": new_id}).json()
    checks["ml_backend_predictions"] = len(predicted)
    expected = tasks[0]["predictions"][0]
    checks["ml_backend_matches_pre_annotation"] = bool(predicted) and (
        predicted[0]["model_version"] == expected["model_version"]
        and regions(predicted[0]["result"]) == regions(expected["result"])
    )


def run_checks(
    tasks: list[dict], label_studio: Path, ml_backend: str | None, start_timeout: float
) -> dict:
    """The checks of a fresh Label Studio; its servers and data folder are gone at the end."""
    servers = Servers(Path(tempfile.mkdtemp(prefix="zh-medner-ls-")))
    token = secrets.token_hex(20)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd, env = label_studio_command(label_studio, port, token), label_studio_env(servers.data_dir)
    proc, log = servers.start(cmd, "label_studio.log", env)
    checks: dict = {"label_studio_url": url, "tasks_in_file": len(tasks)}
    try:
        started = time.monotonic()
        wait_up(url, proc, log, start_timeout)
        checks["label_studio_start_seconds"] = round(time.monotonic() - started, 1)
        ls = httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=120)
        checks["label_studio_version"] = ls.get("/api/version").json().get("release")
        pid = check_import(ls, tasks, checks)
        if ml_backend:
            connect_ml_backend(ls, pid, ml_backend, servers, start_timeout, checks)
            check_ml_prediction(ls, pid, tasks, checks)
    except (RuntimeError, httpx.HTTPError) as e:
        checks["error"] = str(e)
    finally:
        servers.close()
    return checks


def report(checks: dict, tasks: list[dict], ml_backend: str | None, output: Path | None) -> None:
    """Add the verdict, write and show the checks; exit 1 where one failed."""
    ok = (
        "error" not in checks
        and checks["imported_tasks"] == len(tasks)
        and checks["imported_predictions"] == sum(len(t["predictions"]) for t in tasks)
        and checks["predictions_as_written_in_order"]
        and (not ml_backend or checks["ml_backend_matches_pre_annotation"])
    )
    checks["ok"] = ok
    if output:
        write_text_atomic(output, json.dumps(checks, indent=2, ensure_ascii=False) + "\n")
    msg.table([(k, str(v)) for k, v in checks.items()], header=("check", "result"), divider=True)
    if not ok:
        msg.fail("Label Studio check failed", exits=1)
    msg.good(f"{len(tasks)} tasks and their predictions are in Label Studio")


def main(
    tasks_path: Path = typer.Argument(..., help="Label Studio import file (pre-annotate)"),
    label_studio: Path = typer.Option(
        Path("/tmp/ls-venv/bin/label-studio"), "--label-studio", help="label-studio executable"
    ),
    ml_backend: str | None = typer.Option(
        None, "--ml-backend", help="Also serve this pipeline as the project's ML backend"
    ),
    output: Path | None = typer.Option(None, "--output", help="Write the results (.json)"),
    start_timeout: float = typer.Option(300.0, "--start-timeout", help="seconds to start"),
):
    """Import TASKS_PATH into a fresh Label Studio and check the predictions are there."""
    tasks = read_tasks(tasks_path, label_studio)
    checks = run_checks(tasks, label_studio, ml_backend, start_timeout)
    report(checks, tasks, ml_backend, output)


if __name__ == "__main__":
    typer.run(main)
