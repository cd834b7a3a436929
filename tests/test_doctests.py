"""Every ``>>>`` example in the package's docstrings runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import omniloc


def _modules():
    for info in pkgutil.walk_packages(omniloc.__path__, "omniloc."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name, extraglobs={"omniloc": omniloc, "np": __import__("numpy")}):
        if test.examples:
            runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing docstring example(s) in {name} (see output above)"
