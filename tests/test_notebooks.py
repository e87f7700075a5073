"""Every notebook in notebooks/ runs top to bottom and draws what it promises.

Notebooks are executed the way Jupyter runs them (kernel working directory =
``notebooks/``) with a kernel that is guaranteed to be *this* interpreter: the kernel
spec is written into a temporary directory from ``ipykernel`` itself, so a user-level
``python3`` kernel pointing at another Python can never shadow it, and nothing is
installed globally.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNEL_NAME = "python3"

# A notebook that silently stops drawing is broken for a learner even if no cell raises.
MIN_IMAGES = {
    "01_quickstart.ipynb": 6,
    "02_failure_modes.ipynb": 4,
    "03_installed_base.ipynb": 2,
    "05_capacity.ipynb": 6,
}
DEFAULT_MIN_IMAGES = 1

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(scope="session")
def kernel_spec_manager(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    kernels = tmp_path_factory.mktemp("jupyter-kernels")
    write_kernel_spec(path=kernels / KERNEL_NAME)  # argv[0] is sys.executable
    return KernelSpecManager(kernel_dirs=[str(kernels)], ensure_native_kernel=False)


def _failure_report(nb: nbformat.NotebookNode, name: str) -> str:
    """Which cell failed, its source and the kernel's error, without terminal colours."""
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                traceback = _ANSI.sub("", "\n".join(output.get("traceback", [])))
                return (
                    f"{name}: cell {index} failed\n"
                    f"--- source ---\n{cell.source}\n"
                    f"--- {output['ename']} ---\n{traceback}"
                )
    return f"{name}: execution failed before any cell reported an error"


def _image_count(nb: nbformat.NotebookNode) -> int:
    return sum(
        1
        for cell in nb.cells
        for output in cell.get("outputs", [])
        if "image/png" in output.get("data", {})
    )


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOKS_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path: Path) -> None:
    """Stored without outputs or execution counts: small diffs, no stale results."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not dirty, f"{path.name}: cells {dirty} were committed with outputs; clear them"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path: Path, kernel_spec_manager: KernelSpecManager) -> None:
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_spec_manager)
    assert km.kernel_spec.argv[0] == sys.executable
    client = NotebookClient(
        nb,
        km=km,
        timeout=600,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    try:
        client.execute()
        failed = False
    except CellExecutionError:
        failed = True
    if failed:  # outside the except block: report only our clean, colour-free summary
        pytest.fail(_failure_report(nb, path.name), pytrace=False)

    images = _image_count(nb)
    expected = MIN_IMAGES.get(path.name, DEFAULT_MIN_IMAGES)
    assert images >= expected, f"{path.name} drew {images} images, expected at least {expected}"
