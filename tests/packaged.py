"""`chalice package` of this app without the network: `tether deploy`'s own packager run on a
copy of the project whose requirements file is empty, so chalice has no wheels to fetch. The
package lacks the third-party libraries, which the template and the stack do not care about."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

from chalicelib.config import stage_names
from tether.deploy import chalice_packager

ROOT = Path(__file__).parent.parent


@lru_cache(maxsize=2)
def offline_package(architecture: str = "x86_64") -> Path:
    """The directory holding `sam.json` and `deployment.zip` (built once per test session)."""
    work = Path(tempfile.mkdtemp(prefix="tether-test-package-"))
    atexit.register(shutil.rmtree, work, True)
    project = work / "project"
    project.mkdir()
    shutil.copy(ROOT / "app.py", project / "app.py")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (project / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", project / ".chalice" / "config.json")
    (project / "requirements.txt").write_text("")
    out = work / "out"
    chalice_packager(architecture, project_dir=project)(stage_names("ci"), "us-east-1", out)
    return out
