from __future__ import annotations

import sys
import types

import pytest

from search_spaces.registry import Registry, UnknownNameError


def test_register_get_names_and_error_lists_valid_names() -> None:
    reg: Registry[int] = Registry("widget", field="widget_kind")
    reg.add("b", 2)

    @reg.register("a")
    def one() -> int:
        return 1

    assert reg.names() == ["a", "b"]
    assert reg.get("b") == 2 and reg.get("a") is one
    assert "a" in reg and "c" not in reg and len(reg) == 2
    with pytest.raises(UnknownNameError) as err:
        reg.get("c")
    assert str(err.value) == "widget_kind='c' is not a registered widget (known: a, b)"


def test_overwrite_warns_and_replaces() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    with pytest.warns(UserWarning, match="widget 'a' registered again: overwriting"):
        reg.add("a", 2)
    assert reg.get("a") == 2


def test_builtins_are_loaded_lazily_once() -> None:
    reg: Registry[str] = Registry("thing", builtins=("_tinydse_fake_builtin",))
    calls = []
    module = types.ModuleType("_tinydse_fake_builtin")
    sys.modules.pop("_tinydse_fake_builtin", None)

    class Finder:
        @staticmethod
        def find_spec(name, path=None, target=None):  # noqa: ANN001, ANN205
            if name != "_tinydse_fake_builtin":
                return None
            import importlib.machinery

            class Loader:
                @staticmethod
                def create_module(spec):  # noqa: ANN001, ANN205
                    return module

                @staticmethod
                def exec_module(mod):  # noqa: ANN001, ANN205
                    calls.append(1)
                    reg.add("built", "in")

            return importlib.machinery.ModuleSpec(name, Loader())

    sys.meta_path.insert(0, Finder)
    try:
        assert calls == []
        assert reg.get("built") == "in"
        assert reg.names() == ["built"]
        assert calls == [1]
    finally:
        sys.meta_path.remove(Finder)
        sys.modules.pop("_tinydse_fake_builtin", None)


def test_names_are_words_and_the_hint_ends_the_error() -> None:
    reg: Registry[int] = Registry("widget", hint="or a file")
    for bad in ("", "two words", 3):
        with pytest.raises(ValueError, match="must be a non-empty string without white space"):
            reg.add(bad, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="without white space"):
        reg.register("a b")
    reg.add("a", 1)
    with pytest.raises(UnknownNameError) as err:
        reg.get("b")
    assert str(err.value) == "widget='b' is not a registered widget (known: a; or a file)"
