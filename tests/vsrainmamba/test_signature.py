"""The native plugin's argument string and vsrainmamba.derain's signature must describe the same call."""
from __future__ import annotations

import inspect
import re

from vsrainmamba import _bridge
from vsrainmamba.build import PLUGIN_SOURCE
from vsrainmamba.filter import derain

# C argument type -> a fragment the Python annotation must contain
PYTHON_TYPES = {"vnode": "vs.VideoNode", "data": "str", "int": "int", "float": "float", "int[]": "Sequence[int]"}


def c_signature() -> str:
    """The concatenated RAINMAMBA_DERAIN_ARGS string literals from the plugin source."""
    source = PLUGIN_SOURCE.read_text()
    block = re.search(r"#define RAINMAMBA_DERAIN_ARGS\s*((?:\\\n|[^\n])*)", source)
    assert block, "RAINMAMBA_DERAIN_ARGS not found in the plugin source"
    return "".join(re.findall(r'"([^"]*)"', block.group(1)))


def parse(signature: str) -> list[tuple[str, str, bool]]:
    """(name, type, optional) for each argument of a VapourSynth argument string."""
    arguments = []
    for part in filter(None, signature.split(";")):
        name, kind, *flags = part.split(":")
        arguments.append((name, kind, "opt" in flags))
    return arguments


def test_c_arguments_match_the_python_function():
    c_args = parse(c_signature())
    parameters = inspect.signature(derain).parameters
    assert [name for name, _, _ in c_args] == list(parameters)
    for name, kind, optional in c_args:
        parameter = parameters[name]
        annotation = str(parameter.annotation)
        wanted = "bool" if kind == "int" and annotation == "bool" else PYTHON_TYPES[kind]
        assert wanted in annotation, f"{name}: C type {kind} but Python annotation {annotation}"
        assert optional == (parameter.default is not inspect.Parameter.empty), f"{name}: optionality differs"


def test_the_bridge_turns_exactly_the_boolean_arguments_into_bools():
    booleans = {name for name, p in inspect.signature(derain).parameters.items() if p.annotation == "bool"}
    assert booleans == set(_bridge._BOOLEAN_ARGUMENTS)


def test_the_loaded_plugin_registers_the_source_signature(plugin_core):
    registered = plugin_core.rainmamba.Derain.signature
    assert registered == c_signature(), ("the loaded plugin is stale: rebuild it with `python -m vsrainmamba.build` "
                                         "(or reinstall)")
