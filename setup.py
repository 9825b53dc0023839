"""Ships schema.sql and the template folders inside the wheel.

The developers' guide keeps them at the top of the repository, beside the
package; an installed package has no such folder, so the build copies them
under ivr/bundled/, where ivr/__init__.py looks first."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
BUNDLED = ("schema.sql", "twiml_templates", "dashboard_templates")


class build_py_with_data(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:   # an editable install reads the checkout's files
            return
        target = Path(self.build_lib) / "ivr" / "bundled"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in BUNDLED:
            source = HERE / name
            if source.is_dir():
                shutil.copytree(source, target / name,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": build_py_with_data})
