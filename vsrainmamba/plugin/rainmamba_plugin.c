/*
 * rainmamba: a tiny native VapourSynth plugin that registers core.rainmamba.Derain and forwards
 * every call to the Python function vsrainmamba.derain.
 *
 * Why native: VapourSynth R74+ only registers namespaces from native plugins, and users want
 * core.rainmamba.Derain(clip) in any .vpy script without importing the package.
 *
 * How: the host already has libpython loaded (every .vpy runs inside Python), so the CPython API
 * is resolved at run time with dlsym(RTLD_DEFAULT, ...); nothing links against libpython. On each
 * Derain call the plugin imports vsrainmamba._bridge and calls its connect(), which hands the
 * Python entry point back through the registered function BridgeConnect as a VSFunction. The
 * plugin calls that VSFunction with its own arguments and returns the node it gets; a Python
 * exception comes back as an "error" message and surfaces as vs.Error with that message.
 *
 * BridgeConnect is an internal hand-over point, yet listed in core.rainmamba: VapourSynth (API4)
 * has no hidden functions (every registered function is listed, and a plugin is read-only once
 * its init returns), and the only public ways to turn a Python callable into a VSFunction, or a
 * C VSNode into a Python clip, are the arguments and results of registered functions.
 */
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

#include "VapourSynth4.h"

/* Derain's argument string, generated from vsrainmamba/arguments.py by vsrainmamba/build.py. */
#include "rainmamba_derain_args.h"
#ifndef RAINMAMBA_DERAIN_ARGS
#error "rainmamba_derain_args.h must define RAINMAMBA_DERAIN_ARGS: build with python -m vsrainmamba.build"
#endif
#define RAINMAMBA_BRIDGE_MODULE "vsrainmamba._bridge"
#define RAINMAMBA_VERSION_MAJOR 0
#define RAINMAMBA_VERSION_MINOR 1

/* The few CPython entry points the plugin needs, opaque pointers only (no Python.h needed). */
typedef struct PythonApi {
    int (*Py_IsInitialized)(void);
    int (*PyGILState_Ensure)(void);
    void (*PyGILState_Release)(int);
    void *(*PyImport_ImportModule)(const char *);
    void *(*PyObject_CallMethod)(void *, const char *, const char *, ...);
    void (*Py_DecRef)(void *);
    void (*PyErr_Fetch)(void **, void **, void **);
    void (*PyErr_NormalizeException)(void **, void **, void **);
    void *(*PyObject_Str)(void *);
    const char *(*PyUnicode_AsUTF8)(void *);
    void (*PyErr_Clear)(void);
} PythonApi;

/* The VSFunction that connect() hands over; thread-local because the hand-over happens on the
 * calling thread, nested inside Derain, so concurrent scripts on other threads cannot mix. */
static _Thread_local VSFunction *pending_entry = NULL;

static void *find_symbol(const char *name) {
#ifdef _WIN32
    static const char *const modules[] = {"python3.dll", "python312.dll", "python313.dll", "python314.dll"};
    for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
        HMODULE module = GetModuleHandleA(modules[i]);
        if (module) {
            FARPROC symbol = GetProcAddress(module, name);
            if (symbol)
                return (void *)symbol;
        }
    }
    return NULL;
#else
    return dlsym(RTLD_DEFAULT, name);
#endif
}

#define RESOLVE(api, name)                                   \
    do {                                                     \
        *(void **)&(api)->name = find_symbol(#name);         \
        if (!(api)->name)                                    \
            return 0;                                        \
    } while (0)

static int resolve_python(PythonApi *api) {
    RESOLVE(api, Py_IsInitialized);
    RESOLVE(api, PyGILState_Ensure);
    RESOLVE(api, PyGILState_Release);
    RESOLVE(api, PyImport_ImportModule);
    RESOLVE(api, PyObject_CallMethod);
    RESOLVE(api, Py_DecRef);
    RESOLVE(api, PyErr_Fetch);
    RESOLVE(api, PyErr_NormalizeException);
    RESOLVE(api, PyObject_Str);
    RESOLVE(api, PyUnicode_AsUTF8);
    RESOLVE(api, PyErr_Clear);
    return api->Py_IsInitialized();
}

/* Writes "<prefix><str(current Python exception)>" into buf and clears the exception. */
static void describe_python_error(const PythonApi *py, const char *prefix, char *buf, size_t size) {
    void *type = NULL, *value = NULL, *traceback = NULL;
    const char *text = "unknown Python error";
    void *str = NULL;
    py->PyErr_Fetch(&type, &value, &traceback);
    py->PyErr_NormalizeException(&type, &value, &traceback);
    if (value && (str = py->PyObject_Str(value)) != NULL) {
        const char *utf8 = py->PyUnicode_AsUTF8(str);
        if (utf8)
            text = utf8;
    }
    snprintf(buf, size, "%s%s", prefix, text);
    if (str)
        py->Py_DecRef(str);
    if (type)
        py->Py_DecRef(type);
    if (value)
        py->Py_DecRef(value);
    if (traceback)
        py->Py_DecRef(traceback);
    py->PyErr_Clear();
}

/* Imports the bridge and lets it register its entry point; returns it or NULL with err set. */
static VSFunction *fetch_entry(char *err, size_t size) {
    PythonApi py;
    if (!resolve_python(&py)) {
        snprintf(err, size, "Derain: no Python interpreter is loaded in this process (or its symbols are "
                            "hidden); rainmamba.Derain runs the vsrainmamba Python package, so call it from a "
                            ".vpy script run by vspipe or another Python-based VapourSynth host");
        return NULL;
    }
    int gil = py.PyGILState_Ensure();
    VSFunction *entry = NULL;
    void *module = py.PyImport_ImportModule(RAINMAMBA_BRIDGE_MODULE);
    if (!module) {
        describe_python_error(&py, "Derain: cannot import the Python package vsrainmamba (is it installed "
                                   "in the Python that runs this script?): ", err, size);
    } else {
        void *result = py.PyObject_CallMethod(module, "connect", NULL);
        if (!result)
            describe_python_error(&py, "Derain: the vsrainmamba bridge failed: ", err, size);
        else
            py.Py_DecRef(result);
        py.Py_DecRef(module);
        entry = pending_entry;
        pending_entry = NULL;
        if (result && !entry)
            snprintf(err, size, "Derain: the vsrainmamba bridge did not hand over its entry point");
    }
    py.PyGILState_Release(gil);
    return entry;
}

static void VS_CC bridge_connect(const VSMap *in, VSMap *out, void *user_data, VSCore *core, const VSAPI *vsapi) {
    (void)out;
    (void)user_data;
    (void)core;
    if (pending_entry)
        vsapi->freeFunction(pending_entry);
    pending_entry = vsapi->mapGetFunction(in, "func", 0, NULL);
}

static void VS_CC derain_create(const VSMap *in, VSMap *out, void *user_data, VSCore *core, const VSAPI *vsapi) {
    (void)user_data;
    (void)core;
    char err[2048] = "";
    VSFunction *entry = fetch_entry(err, sizeof(err));
    if (!entry) {
        vsapi->mapSetError(out, err);
        return;
    }
    VSMap *result = vsapi->createMap();
    vsapi->callFunction(entry, in, result);
    vsapi->freeFunction(entry);
    /* The bridge answers {"clip": node} or {"error": message}; a map error means it raised anyway. */
    int missing = 0;
    const char *message = vsapi->mapGetError(result);
    if (!message)
        message = vsapi->mapGetData(result, "error", 0, &missing);
    if (message && !missing) {
        snprintf(err, sizeof(err), "Derain: %s", message);
        vsapi->mapSetError(out, err);
    } else {
        VSNode *node = vsapi->mapGetNode(result, "clip", 0, &missing);
        if (missing)
            vsapi->mapSetError(out, "Derain: the vsrainmamba bridge returned no clip");
        else
            vsapi->mapConsumeNode(out, "clip", node, maReplace);
    }
    vsapi->freeMap(result);
}

VS_EXTERNAL_API(void) VapourSynthPluginInit2(VSPlugin *plugin, const VSPLUGINAPI *vspapi) {
    vspapi->configPlugin("io.github.vsrainmamba", "rainmamba", "RainMamba video deraining (ACM MM'24)",
                         VS_MAKE_VERSION(RAINMAMBA_VERSION_MAJOR, RAINMAMBA_VERSION_MINOR),
                         VAPOURSYNTH_API_VERSION, 0, plugin);
    vspapi->registerFunction("Derain", RAINMAMBA_DERAIN_ARGS, "clip:vnode;", derain_create, NULL, plugin);
    vspapi->registerFunction("BridgeConnect", "func:func;", "", bridge_connect, NULL, plugin);
}
