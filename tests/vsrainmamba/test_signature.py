"""One declaration of the filter's arguments (vsrainmamba.arguments): derain's Python signature, the
compiled plugin's argument string, the bridge and the README all follow it."""
from __future__ import annotations

import inspect
import re
import subprocess
import sys

import pytest

from tests.vsrainmamba.helpers import REPO
from vsrainmamba import arguments, filter as filter_module
from vsrainmamba.arguments import ARGUMENTS, NAMES, REQUIRED, from_plugin, vs_signature
from vsrainmamba.build import ARGS_HEADER, PLUGIN_SOURCE, plugin_filename, write_args_header
from vsrainmamba.filter import derain

# VapourSynth argument type -> a fragment the Python annotation must contain
PYTHON_TYPES = {"vnode": "vs.VideoNode", "data": "str", "int": "int", "float": "float", "int[]": "Sequence[int]"}


def parse(signature: str) -> list[tuple[str, str, bool]]:
    """(name, type, optional) for each argument of a VapourSynth argument string."""
    found = []
    for part in filter(None, signature.split(";")):
        name, kind, *flags = part.split(":")
        found.append((name, kind, "opt" in flags))
    return found


def test_the_declared_argument_string_is_valid_and_complete():
    parsed = parse(vs_signature())
    assert [name for name, _, _ in parsed] == list(NAMES) and len(set(NAMES)) == len(NAMES)
    assert parsed[0] == ("clip", "vnode", False)
    assert all(kind in arguments.VS_TYPES for _, kind, _ in parsed)
    assert [optional for _, _, optional in parsed] == [not a.required for a in ARGUMENTS]
    assert vs_signature().endswith(";") and all(a.doc for a in ARGUMENTS)


def test_derain_has_exactly_the_declared_arguments_and_defaults():
    parameters = inspect.signature(derain).parameters
    assert list(parameters) == list(NAMES)
    for argument in ARGUMENTS:
        parameter = parameters[argument.name]
        assert parameter.default == argument.default and type(parameter.default) is type(argument.default), \
            f"{argument.name}: derain's default {parameter.default!r}, declared {argument.default!r}"
        annotation = str(parameter.annotation)
        wanted = "bool" if argument.boolean else PYTHON_TYPES[argument.vs_type]
        assert wanted in annotation, f"{argument.name}: type {argument.vs_type} but Python annotation {annotation}"


def test_derain_forwards_every_argument_it_is_given(monkeypatch):
    received = {}
    monkeypatch.setattr(filter_module, "build_filter", lambda **values: received.update(values) or "clip")
    values = {name: object() for name in NAMES}
    assert derain(**values) == "clip"
    assert received == values


def test_derain_documents_every_argument():
    for argument in ARGUMENTS:
        assert re.search(rf"^\s+{argument.name}: ", inspect.getdoc(derain), re.M), argument.name


def test_the_readme_table_lists_the_declared_arguments_in_order():
    rows = re.findall(r"^\| `(\w+)` \|", (REPO / "vsrainmamba" / "README.md").read_text(), re.M)
    assert rows == list(NAMES)


def test_plugin_calls_get_the_declared_defaults_and_real_booleans():
    completed = from_plugin({"clip": "node", "fp16": 0, "scene_change": 0, "bf16": 1, "stride": 2})
    expected = inspect.signature(derain).bind("node", fp16=False, scene_change=False, bf16=True, stride=2)
    expected.apply_defaults()
    assert completed == expected.arguments
    assert all(type(completed[a.name]) is bool for a in ARGUMENTS if a.boolean)
    assert {a.name for a in ARGUMENTS if a.boolean} == {"fp16", "bf16", "scene_change"}
    with pytest.raises(TypeError, match="clip is required"):
        from_plugin({"mode": "fast"})


def test_the_plugin_source_takes_its_argument_string_from_the_generated_header(tmp_path):
    source = PLUGIN_SOURCE.read_text()
    assert f'#include "{ARGS_HEADER}"' in source
    assert not re.search(r'"\w+:vnode;', source.replace('"clip:vnode;", derain_create', "")), \
        "an argument string is written out in the C source"
    header = write_args_header(tmp_path).read_text()
    assert f'#define RAINMAMBA_DERAIN_ARGS "{vs_signature()}"' in header


SIGNATURE_OF_FRESH = """
import vapoursynth as vs
core = vs.core
extra = dict(forcens="rmfresh", forceid="test.rmfresh") if hasattr(core, "rainmamba") else {}
core.std.LoadPlugin(PATH, **extra)
print(getattr(core, extra.get("forcens", "rainmamba")).Derain.signature)
"""


def test_the_freshly_built_plugin_registers_the_declared_argument_string(plugin_dir):
    code = SIGNATURE_OF_FRESH.replace("PATH", repr(str(plugin_dir / plugin_filename())))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == vs_signature()
    assert REQUIRED is inspect.Parameter.empty


def test_the_loaded_plugin_registers_the_declared_argument_string(plugin_core):
    registered = plugin_core.rainmamba.Derain.signature
    assert registered == vs_signature(), ("the loaded plugin is stale: rebuild it with `python -m vsrainmamba.build` "
                                          "(or reinstall)")
