# Copyright (c) monai-dianet contributors
# Licensed under the Apache License, Version 2.0
"""Harness of the MONAI Label / PACS tests: a private network namespace, a real Orthanc with its DICOMweb plugin,
the separate MONAI Label environment, generated BraTS cases and a tiny trained BraTS bundle.

Every server runs inside a network namespace of its own (``unshare --net`` with only the loopback interface up),
so nothing listens outside loopback and fixed ports never clash with other processes. The test process reaches
them from a worker thread that joined the namespace (``setns``): sockets belong to the namespace of the thread
that creates them, and processes that thread starts (chromedriver) inherit it. Every process is started in its
own session with a parent-death signal and its whole process group is killed at teardown.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
_CLONE_NEWNET = 0x40000000
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """preexec_fn: SIGKILL this child when the test process dies (no server outlives an aborted run)."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def have_pacs_tools() -> str | None:
    """Why the PACS tests cannot run here (None when they can)."""
    if sys.platform != "linux":
        return "needs Linux network namespaces"
    if os.geteuid() != 0:
        return "needs root for unshare --net"
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return "needs util-linux unshare/nsenter"
    return None


class NetNamespace:
    """A network namespace with only loopback, held by a sleeping process, plus processes and calls inside it.

    Example:
        >>> ns = NetNamespace()
        >>> proc = ns.popen(["Orthanc", "orthanc.json"], log=tmp / "orthanc.log")
        >>> status = ns.call(lambda: requests.get("http://127.0.0.1:8042/system").status_code)
        >>> ns.close()
    """

    def __init__(self) -> None:
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep 86400"],
            stdout=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_die_with_parent,
        )
        line = self.holder.stdout.readline().strip()  # type: ignore[union-attr]
        if line != "ready":
            self.holder.kill()
            raise RuntimeError("could not create a network namespace with unshare --net")
        self.path = f"/proc/{self.holder.pid}/ns/net"
        self.procs: list[subprocess.Popen] = []
        self._fd = os.open(self.path, os.O_RDONLY)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns", initializer=self._enter)

    def _enter(self) -> None:
        if ctypes.CDLL(None, use_errno=True).setns(self._fd, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the test network namespace failed")

    def call(self, fn: Callable[..., Any], *args: Any, timeout: float = 300, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the thread that lives in the namespace; returns its result."""
        return self._pool.submit(fn, *args, **kwargs).result(timeout=timeout)

    def popen(self, cmd: list[str], log: Path, env: dict[str, str] | None = None, cwd: str | None = None):
        """Start ``cmd`` inside the namespace in its own session, output appended to ``log``."""
        fh = open(log, "ab")
        proc = subprocess.Popen(
            ["nsenter", f"--net={self.path}", "--", *cmd], stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        fh.close()
        self.procs.append(proc)
        return proc

    def listening(self) -> str:
        """``ss -ltn`` inside the namespace (what listens where)."""
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
        try:  # children that left the group's leader behind
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self._pool.shutdown(wait=True, cancel_futures=True)
        os.close(self._fd)
        self.stop(self.holder)


def wait_http(ns: NetNamespace, url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``url`` from inside ``ns`` until it answers 200; fail with the server log when it dies or times out."""
    import requests

    def probe() -> bool:
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} before answering {url}:\n{log.read_text()[-4000:]}")
        if ns.call(probe):
            return
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer within {timeout} s:\n{log.read_text()[-4000:]}")


ORTHANC_HTTP = 8042


def start_orthanc(ns: NetNamespace, folder: Path) -> tuple[subprocess.Popen, str]:
    """Start Debian's Orthanc with the DICOMweb plugin in ``ns``, storage under ``folder``; returns (proc, url)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "monai-dianet-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": ORTHANC_HTTP,
        "DicomPort": 4242,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = folder / "orthanc.log"
    proc = ns.popen(["/usr/sbin/Orthanc", str(folder / "orthanc.json")], log=log)
    url = f"http://127.0.0.1:{ORTHANC_HTTP}"
    wait_http(ns, f"{url}/system", proc, log, timeout=60)
    return proc, url



TINY_OVERRIDES = {"roi_size": [64, 64, 32], "mc_samples": 2}
"""Bundle overrides of the tests (``--conf dianet_brats_overrides``): one window per 64 x 64 x 32 case."""


def _normalised(case: dict):
    """A case's (4, X, Y, Z) image, channel-wise z-scored over the head, and its TC/WT/ET regions."""
    import nibabel as nib
    import numpy as np
    import torch

    image = np.stack([nib.load(p).get_fdata(dtype=np.float32) for p in case["image"]])
    for c in image:
        inside = c > 0
        c[inside] = (c[inside] - c[inside].mean()) / (c[inside].std() + 1e-6)
    label = nib.load(case["label"]).get_fdata()
    regions = np.stack([np.isin(label, (1, 4)), label > 0, label == 4]).astype(np.float32)
    return torch.as_tensor(image), torch.as_tensor(regions)


def make_tiny_brats_bundle(folder: Path, train_case: dict, router_cases: list[dict], steps: int = 8) -> Path:
    """A copy of the BraTS bundle with weights from a few Adam steps on one generated case and an ACWI router
    fitted (``fit_router_thresholds``) on ``router_cases``. The configs are the shipped ones.

    The tests compare the DICOM path with the NIfTI path of the same model, so the model has to segment something,
    not to be good.
    """
    import torch
    from monai.losses import DiceCELoss

    from monai_dianet.bundle import load_bundle_config
    from monai_dianet.handlers.routing import save_router_file
    from monai_dianet.inferers import case_correct, fit_router_thresholds

    src = ROOT / "bundles" / "dianet_brats_segmentation"
    shutil.copytree(src / "configs", folder / "configs")
    (folder / "models").mkdir()
    torch.manual_seed(0)
    parser = load_bundle_config(str(folder), overrides={"bundle_root": str(folder), "device": "$torch.device('cpu')",
                                                     **TINY_OVERRIDES})
    net = parser.get_parsed_content("network_def")
    x, y = _normalised(train_case)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = DiceCELoss(sigmoid=True)
    net.train()
    for _ in range(steps):
        opt.zero_grad()
        out = net(x[None])
        loss_fn(out.main if hasattr(out, "main") else out, y[None]).backward()
        opt.step()
    net.eval()
    torch.save(net.state_dict(), folder / "models" / "model.pt")
    router = parser.get_parsed_content("router", instantiate=True)  # thresholds None: both paths on every case
    fast, refined, fast_ok, refined_ok = [], [], [], []
    for image, regions in (_normalised(c) for c in router_cases):
        out = router(image[None], net)
        fast.append(float(out["fast_score"][0]))
        refined.append(float(out["refined_score"][0]))
        fast_ok.append(case_correct(out["fast_mean"][0], regions, "sigmoid"))
        refined_ok.append(case_correct(out["mean"][0], regions, "sigmoid"))
    report = fit_router_thresholds(fast, refined, fast_ok, refined_ok, target_error=0.5, review_budget=0.5)
    save_router_file(folder / "models" / "router.json", router, report)
    return folder


MONAILABEL_PORT = 8000


def start_monailabel(ns: NetNamespace, python: Path, studies: str, bundle: Path, folder: Path,
                     extra_env: dict[str, str] | None = None, timeout: float = 240):
    """Start ``monailabel start_server`` on the app folder in ``ns`` (loopback only); returns (proc, url, log)."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": f"{python.parent}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(folder),  # MONAI Label's caches and sessions under ~/.cache
        "PYTHONPATH": str(ROOT),  # this checkout's monai_dianet, wherever the environment's editable install points
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
        "MONAI_LABEL_AUTO_UPDATE_SCORING": "false",
        "MONAI_LABEL_DICOMWEB_SEARCH_FILTER": '{"Modality": "MR"}',
        "MONAI_LABEL_DICOMWEB_CACHE_PATH": str(folder / "dicom-cache"),
        "MONAI_LABEL_DATASTORE_AUTO_RELOAD": "false",
        **(extra_env or {}),
    }
    log = folder / "monailabel.log"
    # python -m monailabel.main, not the bin/monailabel wrapper: the wrapper splits arguments on spaces and puts the
    # environment's parent folder first on PYTHONPATH
    cmd = [str(python), "-m", "monailabel.main", "start_server", "--app", str(ROOT / "apps" / "monailabel_dianet"),
           "--studies", studies, "--host", "127.0.0.1", "--port", str(MONAILABEL_PORT),
           "--conf", "dianet_brats_bundle", str(bundle),
           "--conf", "dianet_brats_overrides", json.dumps(TINY_OVERRIDES, separators=(",", ":"))]
    proc = ns.popen(cmd, log=log, env=env, cwd=str(folder))
    url = f"http://127.0.0.1:{MONAILABEL_PORT}"
    wait_http(ns, f"{url}/info/", proc, log, timeout=timeout)
    return proc, url, log
