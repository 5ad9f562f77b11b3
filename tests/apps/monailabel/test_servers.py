# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""The server launcher's own behaviour (Orthanc and MONAI Label through it: test_pacs.py, test_monailabel_app.py):
what it reports missing, one-line errors of a server that dies or never answers, and nothing left running."""

from __future__ import annotations

import pytest

from monai_dianet.apps.monailabel import servers
from tests.apps.monailabel.monailabel_harness import NAMESPACE_MISSING


def test_missing_monailabel_environment_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MONAI_DIANET_MONAILABEL_VENV", str(tmp_path / "venv"))
    reason = servers.missing_pacs_tools(orthanc=False)
    assert reason is not None and "bash scripts/setup_monailabel.sh" in reason and "\n" not in reason
    if NAMESPACE_MISSING is None:  # past the platform checks: the environment itself is named
        assert str(tmp_path / "venv") in reason
        (tmp_path / "venv" / "bin").mkdir(parents=True)
        (tmp_path / "venv" / "bin" / "python").touch()
        assert "set up completely" in servers.missing_pacs_tools(orthanc=False)


@pytest.mark.skipif(NAMESPACE_MISSING is not None, reason=str(NAMESPACE_MISSING))
def test_server_errors_are_one_line_and_close_stops_everything(tmp_path):
    with servers.NetNamespace() as ns:
        log = tmp_path / "dead.log"
        dead = ns.popen(["sh", "-c", "echo cannot bind; exit 3"], log=log)
        with pytest.raises(servers.ServerError, match=r"exited with code 3 .*last log line: cannot bind$") as err:
            servers.wait_http(ns, "http://127.0.0.1:8042/system", dead, log, timeout=30)
        assert "\n" not in str(err.value)
        silent = ns.popen(["sleep", "60"], log=tmp_path / "silent.log")
        with pytest.raises(servers.ServerError, match=r"did not answer within 1 s"):
            servers.wait_http(ns, "http://127.0.0.1:8042/system", silent, tmp_path / "silent.log", timeout=1)
        holder = ns.holder
    assert silent.poll() is not None and holder.poll() is not None
    ns.close()  # idempotent
