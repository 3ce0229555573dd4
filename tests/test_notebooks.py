"""The tutorial notebooks: each `.ipynb` matches its jupytext source, and each runs in tiny mode.

The notebooks are executed in a Jupyter kernel running *this* interpreter (``sys.executable``):
the test writes a private kernelspec into a temporary folder and gives nbclient a kernel manager
class that looks only there (nbclient owns, starts and shuts down each kernel), so neither a
global Jupyter install nor a user-level ``python3`` kernelspec pointing at another Python can
change what runs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("ipykernel")

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from traitlets import default  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
SOURCES = sorted(NOTEBOOKS.glob("*.py"))
KERNEL = "python3"


def test_notebooks_are_found():
    assert len(SOURCES) >= 3, f"expected the tutorials in {NOTEBOOKS}, found {SOURCES}"


def _cells(nb) -> list[tuple[str, str]]:
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_ipynb_is_up_to_date(source: Path):
    ipynb = source.with_suffix(".ipynb")
    assert ipynb.is_file(), (
        f"{ipynb.name} is missing; generate it with `jupytext --to ipynb {source.name}` "
        f"in notebooks/."
    )
    from_py = jupytext.read(source)
    from_ipynb = jupytext.read(ipynb)
    assert _cells(from_ipynb) == _cells(from_py), (
        f"{ipynb.name} is out of date with {source.name}; regenerate it with "
        f"`jupytext --to ipynb {source.name}` (or `jupytext --sync {source.name}`)."
    )
    dirty = [
        i
        for i, c in enumerate(from_ipynb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
    ]
    assert not dirty, f"{ipynb.name} has outputs in cells {dirty}; commit it with outputs stripped."


@pytest.fixture(scope="session")
def kernel_manager_class(tmp_path_factory: pytest.TempPathFactory) -> type[AsyncKernelManager]:
    """A kernel manager whose only ``python3`` kernelspec runs this interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (hybridwm tests)",
                "language": "python",
            }
        )
    )

    class ThisPythonKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self) -> KernelSpecManager:
            return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)

    argv = ThisPythonKernelManager(kernel_name=KERNEL).kernel_spec.argv
    assert Path(argv[0]) == Path(sys.executable), argv
    return ThisPythonKernelManager


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_runs_in_tiny_mode(
    source: Path,
    kernel_manager_class: type[AsyncKernelManager],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    # The kernel inherits os.environ when it starts.
    out = tmp_path / "out"
    monkeypatch.setenv("HYBRIDWM_NOTEBOOK_TINY", "1")
    monkeypatch.setenv("HYBRIDWM_NOTEBOOK_OUT", str(out))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    nb = jupytext.read(source)
    # One extra cell, in memory only: which interpreter did the kernel run?
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable, end='')"))
    client = nbclient.NotebookClient(
        nb,
        kernel_manager_class=kernel_manager_class,
        kernel_name=KERNEL,
        timeout=120,
        resources={"metadata": {"path": str(tmp_path)}},  # the kernel's working directory
    )
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"{source.name} failed in tiny mode:\n{exc}")
    elapsed = time.perf_counter() - start
    print(f"{source.name}: {elapsed:.1f} s")

    ran_with = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert Path(ran_with) == Path(sys.executable), (ran_with, sys.executable)

    written = [p for p in out.rglob("*") if p.is_file()]
    assert written, f"{source.name} wrote nothing under HYBRIDWM_NOTEBOOK_OUT={out}"
