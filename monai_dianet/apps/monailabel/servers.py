# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Start a local Orthanc (DICOMweb) and a MONAI Label server on loopback only, for tutorials and tests.

Orthanc has no option to bind its HTTP port to one address, so both servers run inside a network namespace of
their own (``unshare --net``, only the loopback interface up): nothing listens outside it and fixed ports never
clash with other programs. The calling process reaches them from one worker thread that joined the namespace
(``setns``): sockets belong to the namespace of the thread that creates them, and processes that thread starts
inherit it. Every server runs in its own session with a parent-death signal, and :meth:`NetNamespace.close`
(also run at interpreter exit) kills each process group, so no server outlives the process that started it.

Needs Linux, root (for ``unshare --net``), util-linux, Debian's ``orthanc`` + ``orthanc-dicomweb`` and the
MONAI Label environment made by ``scripts/setup_monailabel.sh``; :func:`missing_pacs_tools` says what is missing.
Python's standard library covers the process and namespace handling (``ctypes`` for ``setns``/``prctl``); no
package wraps network namespaces for a running Python process, hence this module.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = [
    "ServerError",
    "NetNamespace",
    "REPO_ROOT",
    "APP_DIR",
    "ORTHANC_BINARY",
    "ORTHANC_DICOMWEB_PLUGIN",
    "monailabel_python",
    "missing_pacs_tools",
    "wait_http",
    "start_orthanc",
    "start_monailabel",
]

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The checkout this package runs from (the MONAI Label app folder and the bundles live there)."""
APP_DIR = REPO_ROOT / "apps" / "monailabel_dianet"
ORTHANC_BINARY = Path("/usr/sbin/Orthanc")
ORTHANC_DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
MONAILABEL_VENV_VAR = "MONAI_DIANET_MONAILABEL_VENV"
_SETUP_STAMP = ".monai_dianet_monailabel_installed"  # written by scripts/setup_monailabel.sh when it succeeded

_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    """A server did not start or stopped answering (one-line message naming the URL and the server log)."""


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the process that started it dies."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def monailabel_python(venv: str | os.PathLike | None = None) -> Path:
    """The python of the MONAI Label environment (it may not exist yet; see :func:`missing_pacs_tools`).

    Args:
        venv: the environment folder; default ``$MONAI_DIANET_MONAILABEL_VENV`` or ``<repo>/.venv-monailabel``,
            the folder ``scripts/setup_monailabel.sh`` creates.

    Returns:
        ``<venv>/bin/python``.
    """
    folder = venv or os.environ.get(MONAILABEL_VENV_VAR) or REPO_ROOT / ".venv-monailabel"
    return Path(folder) / "bin" / "python"


def missing_pacs_tools(orthanc: bool = True, monailabel: bool = True) -> str | None:
    """Why Orthanc and MONAI Label cannot be started here, or None when they can.

    Args:
        orthanc: also require Debian's Orthanc and its DICOMweb plugin.
        monailabel: also require the MONAI Label environment (:func:`monailabel_python`).

    Returns:
        a one-line reason (with the command that fixes it where there is one), or None.

    Example:
        >>> reason = missing_pacs_tools()
        >>> print(reason or "ready")
    """
    if sys.platform != "linux":
        return "needs Linux network namespaces"
    if os.geteuid() != 0:
        return "needs root for unshare --net"
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return "needs util-linux unshare/nsenter"
    if orthanc and not (ORTHANC_BINARY.is_file() and ORTHANC_DICOMWEB_PLUGIN.is_file()):
        return (f"needs Debian's Orthanc with DICOMweb ({ORTHANC_BINARY}, {ORTHANC_DICOMWEB_PLUGIN}): "
                "run `bash scripts/setup_monailabel.sh` or `apt-get install orthanc orthanc-dicomweb`")
    venv = monailabel_python().parents[1]
    if monailabel and not (venv / "bin" / "python").is_file():
        return f"needs the MONAI Label environment {venv}: run `bash scripts/setup_monailabel.sh`"
    if monailabel and not (venv / _SETUP_STAMP).is_file():
        return f"needs the MONAI Label environment {venv} set up completely: run `bash scripts/setup_monailabel.sh`"
    return None


class NetNamespace:
    """A network namespace with only loopback, held by a sleeping process, and processes and calls inside it.

    Use it as a context manager, or call :meth:`close` (it also runs at interpreter exit). The holder and every
    process started by :meth:`popen` get SIGKILL when the creating process dies.

    Raises:
        ServerError: ``unshare --net`` failed (not root, or namespaces disabled).

    Example:
        >>> with NetNamespace() as ns:
        ...     orthanc, url = start_orthanc(ns, Path("/tmp/orthanc"))
        ...     status = ns.call(lambda: requests.get(f"{url}/system").status_code)
    """

    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep 86400"],
            stdout=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_die_with_parent,
        )
        line = self.holder.stdout.readline().strip()  # type: ignore[union-attr]
        if line != "ready":
            self.holder.kill()
            self.holder.wait()
            raise ServerError("could not create a network namespace with `unshare --net` (needs root).")
        self.path = f"/proc/{self.holder.pid}/ns/net"
        self.procs: list[subprocess.Popen] = []
        self._fd = os.open(self.path, os.O_RDONLY)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns", initializer=self._enter)
        self.closed = False
        atexit.register(self.close)

    def _enter(self) -> None:
        if ctypes.CDLL(None, use_errno=True).setns(self._fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the network namespace failed")

    def __enter__(self) -> NetNamespace:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 300, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the thread that lives in the namespace and return its result.

        Raises:
            concurrent.futures.TimeoutError: no result within ``timeout`` seconds.
        """
        return self._pool.submit(fn, *args, **kwargs).result(timeout=timeout)

    def popen(self, cmd: list[str], log: Path, env: Mapping[str, str] | None = None,
              cwd: str | None = None) -> subprocess.Popen:
        """Start ``cmd`` inside the namespace in its own session, its output appended to ``log``."""
        with open(log, "ab") as fh:
            proc = subprocess.Popen(
                ["nsenter", f"--net={self.path}", "--", *cmd], stdout=fh, stderr=subprocess.STDOUT,
                env=None if env is None else dict(env), cwd=cwd, start_new_session=True, preexec_fn=_die_with_parent,
            )
        self.procs.append(proc)
        return proc

    def listening(self) -> str:
        """``ss -ltnH`` inside the namespace: what listens where."""
        return subprocess.run(["nsenter", f"--net={self.path}", "--", "ss", "-ltnH"], capture_output=True,
                              text=True, check=True).stdout

    @staticmethod
    def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
        """Terminate a process group started by :meth:`popen` (SIGTERM, then SIGKILL)."""
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        try:  # children that outlived the group's leader
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        """Stop every process started in the namespace, then the namespace itself (idempotent)."""
        if self.closed:
            return
        self.closed = True
        atexit.unregister(self.close)
        for proc in reversed(self.procs):
            self.stop(proc)
        self._pool.shutdown(wait=True, cancel_futures=True)
        os.close(self._fd)
        self.stop(self.holder)


def _last_line(log: Path) -> str:
    try:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f"; last log line: {lines[-1][:300]}" if lines else ""


def wait_http(ns: NetNamespace, url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``url`` from inside ``ns`` until it answers 200.

    Args:
        ns: the namespace the server runs in.
        url: the URL to poll (a cheap GET).
        proc: the server process.
        log: its log file (named in the error).
        timeout: seconds to wait.

    Raises:
        ServerError: the server exited first, or did not answer within ``timeout`` (one line naming the log).
    """
    import requests

    def probe() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise ServerError(f"server exited with code {proc.returncode} before answering {url} (log: {log})"
                              + _last_line(log))
        if ns.call(probe):
            return
        time.sleep(0.3)
    raise ServerError(f"{url} did not answer within {timeout:g} s (log: {log})" + _last_line(log))


def start_orthanc(ns: NetNamespace, folder: Path, http_port: int = 8042, dicom_port: int = 4242,
                  timeout: float = 60) -> tuple[subprocess.Popen, str]:
    """Start Debian's Orthanc with its DICOMweb plugin inside ``ns``, configuration and storage under ``folder``.

    Args:
        ns: the namespace (only loopback exists there, so Orthanc is reachable from ``ns.call`` only).
        folder: written: ``orthanc.json``, ``orthanc.log``, ``storage/``, ``index/``.
        http_port: REST and DICOMweb port (DICOMweb root ``/dicom-web/``).
        dicom_port: DIMSE port.
        timeout: seconds to wait for ``/system`` to answer.

    Returns:
        ``(process, base URL)``, e.g. ``http://127.0.0.1:8042``; DICOMweb is at ``<base URL>/dicom-web``.

    Raises:
        ServerError: Orthanc did not start (see :func:`wait_http`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "monai-dianet",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": [str(ORTHANC_DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = folder / "orthanc.log"
    proc = ns.popen([str(ORTHANC_BINARY), str(folder / "orthanc.json")], log=log)
    url = f"http://127.0.0.1:{http_port}"
    wait_http(ns, f"{url}/system", proc, log, timeout=timeout)
    return proc, url


def start_monailabel(ns: NetNamespace, studies: str, folder: Path, conf: Mapping[str, Any] | None = None,
                     python: str | os.PathLike | None = None, app_dir: str | os.PathLike = APP_DIR,
                     port: int = 8000, extra_env: Mapping[str, str] | None = None,
                     timeout: float = 240) -> tuple[subprocess.Popen, str, Path]:
    """Start ``monailabel start_server`` on an app folder inside ``ns``, on 127.0.0.1 only.

    Args:
        ns: the namespace.
        studies: a local datastore folder or a DICOMweb URL (e.g. ``http://127.0.0.1:8042/dicom-web``; only MR
            series are listed).
        folder: the server's home (caches, DICOM cache) and ``monailabel.log``.
        conf: ``--conf`` options of the app (see :mod:`monai_dianet.apps.monailabel.app`); values that are not
            strings or paths are written as compact JSON, e.g.
            ``{"dianet_brats_overrides": {"roi_size": [64, 64, 32]}}``.
        python: the MONAI Label environment's python; default :func:`monailabel_python`.
        app_dir: the app folder. MONAI Label writes ``logs/``, ``model/``, ``bin/`` and ``lib/`` into it: pass a
            copy to keep a checkout untouched.
        port: the HTTP port.
        extra_env: environment variables added to the server's (``MONAI_LABEL_*`` settings).
        timeout: seconds to wait for ``/info/`` to answer (the app loads its bundles at start).

    Returns:
        ``(process, base URL, log file)``.

    Raises:
        ServerError: the server did not start (see :func:`wait_http`).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    python = Path(python) if python else monailabel_python()
    env = {
        "PATH": f"{python.parent}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(folder),  # MONAI Label's caches and sessions under ~/.cache
        "PYTHONPATH": str(REPO_ROOT),  # this checkout's monai_dianet, wherever the environment's install points
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        "MONAI_LABEL_AUTO_UPDATE_SCORING": "false",
        "MONAI_LABEL_DICOMWEB_SEARCH_FILTER": '{"Modality": "MR"}',
        "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(folder / "dicom-cache"),
        "MONAI_LABEL_DATASTORE_AUTO_RELOAD": "false",
        **(extra_env or {}),
    }
    # python -m monailabel.main, not the bin/monailabel wrapper: the wrapper splits arguments on spaces and puts the
    # environment's parent folder first on PYTHONPATH
    cmd = [str(python), "-m", "monailabel.main", "start_server", "--app", str(app_dir), "--studies", studies,
           "--host", "127.0.0.1", "--port", str(port)]
    for key, value in (conf or {}).items():
        text = str(value) if isinstance(value, (str, os.PathLike)) else json.dumps(value, separators=(",", ":"))
        cmd += ["--conf", key, text]
    log = folder / "monailabel.log"
    proc = ns.popen(cmd, log=log, env=env, cwd=str(folder))
    url = f"http://127.0.0.1:{port}"
    wait_http(ns, f"{url}/info/", proc, log, timeout=timeout)
    return proc, url, log
