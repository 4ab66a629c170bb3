"""The notebooks: committed without outputs, built on churnguard, and running top to bottom.

The execution tests run each notebook in a fresh kernel of this interpreter (a kernel spec written
for ``sys.executable``, so no ``python3`` kernel installed elsewhere can stand in for it), from the
``notebooks`` folder as Jupyter would. The notebooks read the real IBM data when
``CHURNGUARD_REAL_DATA`` names it (the variable reaches the kernel) and the synthetic generator
otherwise; each says which in its output, and the tests check it said the right thing.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
NOTEBOOKS = (
    "01_eda.ipynb",
    "02_feature_engineering.ipynb",
    "03_model_experiments.ipynb",
    "04_model_evaluation.ipynb",
)
REAL_DATA_ENV = "CHURNGUARD_REAL_DATA"
#: Seconds one cell may run before the execution fails (the slowest cell trains four models).
CELL_TIMEOUT_SECONDS = 240
KERNEL_NAME = "churnguard-notebook-tests"

_IMPORTS_CHURNGUARD = re.compile(r"^\s*(from churnguard(\.\w+)* import |import churnguard\b)", re.M)
# A string literal holding an absolute path or naming the IBM file: data must come from the env.
_HARD_CODED_DATA = re.compile(
    r"""["'](/[^"'\s]*|~[^"'\s]*|[A-Za-z]:\\[^"']*)["']|telco[-_ ]customer[-_ ]churn""", re.I
)


def _read(name: str) -> NotebookNode:
    notebook: NotebookNode = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    return notebook


def _code(notebook: NotebookNode) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def _text_output(notebook: NotebookNode) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in {"execute_result", "display_data"}:
                parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


@pytest.mark.unit
def test_notebook_folder_holds_the_four_notebooks_of_the_layout() -> None:
    assert sorted(p.name for p in NOTEBOOK_DIR.glob("*.ipynb")) == list(NOTEBOOKS)


@pytest.mark.unit
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_is_committed_without_outputs(name: str) -> None:
    notebook = _read(name)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    with_outputs = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert not with_outputs, f"{name}: clear the outputs of cells {with_outputs} before committing"


@pytest.mark.unit
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_imports_churnguard_and_reads_data_only_through_the_environment(
    name: str,
) -> None:
    code = _code(_read(name))
    assert any(_IMPORTS_CHURNGUARD.search(source) for source in code), (
        f"{name} does not import churnguard: use the package, not copied pipeline code"
    )
    assert any(REAL_DATA_ENV in source for source in code), f"{name} ignores {REAL_DATA_ENV}"
    hard_coded = [m.group(0) for source in code for m in _HARD_CODED_DATA.finditer(source)]
    assert not hard_coded, f"{name} hard-codes paths or the data file: {hard_coded}"


@pytest.fixture(scope="session")
def kernel_specs(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """Kernel specs holding one kernel: ipykernel on this very interpreter."""
    root = tmp_path_factory.mktemp("kernels")
    (root / KERNEL_NAME).mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "churnguard tests",
        "language": "python",
    }
    (root / KERNEL_NAME / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(root)], ensure_native_kernel=False)


def _kernel_environment() -> dict[str, str]:
    # The autouse fixture has already removed the developer's CHURNGUARD_* overrides (the real
    # data path aside); the kernel inherits what is left.
    return os.environ | {
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "1",
        # The debugger's warning about frozen modules is noise in a kernel that is never debugged.
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
    }


def _execute(name: str, kernel_specs: KernelSpecManager, out_dir: Path) -> NotebookNode:
    notebook = _read(name)
    manager = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs)
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=CELL_TIMEOUT_SECONDS,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    try:
        # The client does not own a manager it was given: it must still shut the kernel down.
        client.execute(cleanup_kc=True, env=_kernel_environment())
    finally:
        # The executed copy, for reading after a failure; never written over the committed file.
        nbformat.write(notebook, out_dir / name)
    return notebook


@pytest.mark.integration
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_top_to_bottom_without_errors(
    name: str, kernel_specs: KernelSpecManager, tmp_path: Path
) -> None:
    executed = _execute(name, kernel_specs, tmp_path)

    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    errors = [
        f"cell {index}: {output.ename}: {output.evalue}"
        for index, cell in enumerate(code_cells)
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors, errors
    assert [cell.execution_count for cell in code_cells] == list(range(1, len(code_cells) + 1))
    real = os.environ.get(REAL_DATA_ENV)
    expected = "real IBM Telco data" if real and Path(real).is_file() else "SYNTHETIC data"
    assert expected in _text_output(executed), f"{name} did not run on the {expected}"
    images = sum(
        "image/png" in output.get("data", {})
        for cell in code_cells
        for output in cell.outputs
        if output.output_type in {"display_data", "execute_result"}
    )
    assert images >= 2, f"{name} drew {images} figure(s); each notebook has plots"
