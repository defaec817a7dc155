"""The error catalogue: one module per capability, every error named in the package's index."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from soma import errors


def _declared() -> dict[str, type]:
    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(errors.__path__):
        module = importlib.import_module(f"soma.errors.{module_info.name}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, errors.SomaError) and value.__module__ == module.__name__:
                found[name] = value
    return found


def test_every_declared_error_is_named_in_the_index_as_errors_name() -> None:
    declared = _declared()
    assert {name: getattr(errors, name, None) for name in declared} == declared


def test_every_error_has_a_docstring_and_a_code_of_its_own() -> None:
    declared = _declared()
    assert all((cls.__doc__ or "").strip() for cls in declared.values())
    codes = [cls.code for cls in declared.values() if "code" in vars(cls)]
    assert len(codes) == len(set(codes))
