"""Tracking faults: an unreachable store stops the run before any work; a server that dies
mid-run loses nothing on disk and ends the run with a non-zero exit code."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner
from conftest import REPO, RUN_OUTPUT_FILES, free_port

from segml.cli import main


def test_unreachable_server_stops_before_any_work(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(REPO / "experiments" / "cdnow.toml"),
            "--tracking-uri",
            uri,
            "--output-dir",
            str(out),
        ],
    )
    assert result.exit_code == 7, result.output
    assert f"the MLflow tracking store {uri} cannot be reached" in result.output
    assert "--no-tracking" in result.output
    assert not out.exists(), "no work was done"


def test_server_dying_mid_run_loses_nothing_on_disk(mlflow_server, tmp_path) -> None:
    out = tmp_path / "out"
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "segml.cli",
            "run",
            str(REPO / "experiments" / "cdnow.toml"),
            "--tracking-uri",
            mlflow_server.uri,
            "--output-dir",
            str(out),
            "--models-dir",
            str(tmp_path / "models"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "SEGML_HOME": str(tmp_path / "home")},
    )
    assert run.stderr is not None
    for line in run.stderr:
        if "reading transactions" in line:  # the store was reachable; the work has begun
            mlflow_server.kill()
            break
    stdout, stderr = run.communicate(timeout=600)
    assert run.returncode == 7, stdout + stderr
    assert "logging to MLflow failed" in stderr and "the results on disk are complete" in stderr
    for name in RUN_OUTPUT_FILES:
        assert (out / name).stat().st_size > 0, name


def test_transient_http_errors_are_retried(mlflow_server, monkeypatch) -> None:
    """A loopback proxy answers 503 to the first request of every path, then forwards."""
    import http.server
    import threading
    import urllib.error

    from mlflow.tracking import MlflowClient

    from segml.tracking.log import check_tracking

    upstream = mlflow_server.uri
    failed: dict[str, int] = {}

    class Flaky(http.server.BaseHTTPRequestHandler):
        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            if failed.get(path, 0) < 1:
                failed[path] = failed.get(path, 0) + 1
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            req = urllib.request.Request(
                upstream + self.path, data=body or None, method=self.command
            )
            for key in ("Content-Type", "Authorization"):
                if self.headers.get(key):
                    req.add_header(key, self.headers[key])
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    status, payload, ctype = (
                        resp.status,
                        resp.read(),
                        resp.headers.get("Content-Type"),
                    )
            except urllib.error.HTTPError as err:
                status, payload, ctype = err.code, err.read(), err.headers.get("Content-Type")
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        def log_message(self, *args: object) -> None:
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    flaky = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
        check_tracking(flaky)  # its first request got a 503 and was retried
        client = MlflowClient(tracking_uri=flaky)
        exp = client.create_experiment("flaky")
        run = client.create_run(exp)
        client.log_metric(run.info.run_id, "m", 1.0)
        assert MlflowClient(tracking_uri=upstream).get_run(run.info.run_id).data.metrics["m"] == 1.0
        assert failed and all(v == 1 for v in failed.values())
    finally:
        proxy.shutdown()
