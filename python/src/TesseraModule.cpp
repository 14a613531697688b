//===- TesseraModule.cpp - The tessera._C extension -----------------------===//
//
// The one Python extension. It stays thin: it forwards to libtessera.so and
// returns plain values; Python turns failures into exceptions.
//
//===----------------------------------------------------------------------===//

#include "tessera/AMDBackend.h"
#include "tessera/CPUBackend.h"
#include "tessera/IRText.h"
#include "tessera/NVIDIABackend.h"

#include "cuda/CudaModule.h"
#include "hip/HipRuntime.h"
#include "cuda/Timing.h"
#include "passes/ContractionCost.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <structmember.h>

#include <algorithm>
#include <array>
#include <map>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace py = pybind11;

namespace {
namespace rt = tessera::runtime;

/// A loaded CUDA kernel and its launch shape.
struct CudaKernel {
  std::shared_ptr<rt::Module> module;
  rt::CUfunction function;
  unsigned threads;
  unsigned shared;
  /// TMA tensor maps, passed after the kernel's own parameters.
  std::vector<rt::TensorMapRecipe> maps;

  static constexpr size_t kMaxMaps = 8;
  /// Encodes the tensor maps for parameters `cells` (`count` of them) into
  /// `storage` and points `params[count + i]` at them.
  void addTensorMaps(const uint64_t *cells, size_t count, rt::TensorMap *storage,
                     void **params) const {
    for (size_t i = 0; i < maps.size(); ++i) {
      rt::encodeTensorMap(maps[i], cells, count, storage[i]);
      params[count + i] = &storage[i];
    }
  }
};

/// A loaded HIP kernel and its launch shape (LDS is static: checked only).
struct HipKernel {
  std::shared_ptr<tessera::runtime::hip::Module> module;
  tessera::runtime::hip::hipFunction_t function;
  unsigned threads;
  unsigned lds;
};

/// The launch fast path of one @jit kernel on the CUDA backend: binds the
/// arguments, computes a specialization key in C++, finds the compiled
/// kernel and launches it. It is called through CPython's vectorcall
/// protocol (no argument tuple or dict is built), and takes no Python
/// locks beyond the GIL. A miss, a callable grid, an unknown keyword or an
/// argument of another kind go to the Python path (`fallback`), which
/// compiles, raises the errors, and registers the kernel under the key
/// computed here.
///
/// The key: one item per parameter (the constexpr value, the dtype object
/// of a tensor, an interned type name for a scalar, 1 for a specialized
/// one), then a bit mask of 16-byte aligned pointers and divisible-by-16
/// integers, then each launch option as name, value.
class FastLauncher {
public:
  FastLauncher(std::vector<std::string> names, std::vector<bool> constexprs,
               std::vector<bool> specialize, py::tuple defaults,
               py::object missing, py::object fallback, py::object tensorType,
               py::object getStream, py::object getDevice, py::dict defaultOptions,
               py::object constexprType)
      : constexprType(std::move(constexprType)), constexprs(std::move(constexprs)), specialize(std::move(specialize)),
        defaults(std::move(defaults)), missing(std::move(missing)),
        fallback(std::move(fallback)), tensorType(std::move(tensorType)),
        getStream(std::move(getStream)), getDevice(std::move(getDevice)) {
    for (const std::string &name : names) {
      PyObject *s = PyUnicode_FromString(name.c_str());
      PyUnicode_InternInPlace(&s);
      this->names.push_back(py::reinterpret_steal<py::str>(s));
    }
    if (this->names.size() > 62)
      throw std::invalid_argument("a kernel takes at most 62 parameters");
    for (auto item : defaultOptions)
      this->defaultOptions.emplace_back(py::reinterpret_borrow<py::object>(item.first),
                                        py::reinterpret_borrow<py::object>(item.second));
    isCudaDescr = this->tensorType.attr("is_cuda");
    dataPtrDescr = this->tensorType.attr("data_ptr");
    dtypeDescr = this->tensorType.attr("dtype");
  }

  void registerKernel(py::tuple key, py::object kernel,
                      std::vector<int> positions, std::string kinds) {
    Entry entry{kernel, &kernel.cast<CudaKernel &>(), std::move(positions),
                std::move(kinds)};
    entries[key] = py::int_(table.size());
    table.push_back(std::move(entry));
  }
  size_t size() const { return py::len(entries); }

  /// `kernel[grid](*args, **kwargs)`, from a vectorcall: `args` holds the
  /// `given` positionals, then the values of the keywords named `kwnames`.
  py::object launch(PyObject *grid, PyObject *const *args, size_t given,
                    PyObject *kwnames) {
    size_t n = names.size();
    size_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    auto slow = [&](py::object key) {
      py::tuple positional(given);
      for (size_t i = 0; i < given; ++i)
        positional[i] = py::handle(args[i]);
      py::dict keywords;
      for (size_t j = 0; j < nkw; ++j)
        keywords[PyTuple_GET_ITEM(kwnames, j)] = py::handle(args[given + j]);
      return fallback(key, py::handle(grid), positional, keywords);
    };
    bool callableGrid = !PyTuple_Check(grid) && PyCallable_Check(grid);
    if (given > n || (!PyTuple_Check(grid) && !callableGrid))
      return slow(py::none());

    // Bind: positionals, then keywords by (interned) name, then defaults.
    PyObject *bound[64] = {nullptr};
    for (size_t i = 0; i < given; ++i)
      bound[i] = args[i];
    PyObject *options[4];
    size_t numOptions = 0;
    for (size_t j = 0; j < nkw; ++j) {
      PyObject *name = PyTuple_GET_ITEM(kwnames, j);
      size_t i = 0;
      while (i < n && names[i].ptr() != name)
        ++i;
      if (i == n) // not interned the same way: compare the text
        for (i = 0; i < n; ++i)
          if (PyUnicode_Compare(names[i].ptr(), name) == 0)
            break;
      if (i < n) {
        if (bound[i])
          return slow(py::none()); // given twice: Python raises
        bound[i] = args[given + j];
      } else if (numOptions < 4 && (PyUnicode_CompareWithASCIIString(name, "num_warps") == 0 ||
                                    PyUnicode_CompareWithASCIIString(name, "num_stages") == 0)) {
        options[numOptions++] = name;
        options[numOptions++] = args[given + j];
      } else {
        return slow(py::none());
      }
    }
    for (size_t i = given; i < n; ++i) {
      if (!bound[i] && defaults[i].ptr() != missing.ptr())
        bound[i] = defaults[i].ptr();
      if (!bound[i])
        return slow(py::none());
    }

    // Interned key items: no allocation for them per launch. Leaked on
    // purpose: they must outlive the interpreter's finalization.
    static PyObject *kI1 = PyUnicode_InternFromString("i1"),
                    *kI32 = PyUnicode_InternFromString("i32"),
                    *kI64 = PyUnicode_InternFromString("i64"),
                    *kF32 = PyUnicode_InternFromString("f32"),
                    *kIsCuda = PyUnicode_InternFromString("is_cuda"),
                    *kDataPtr = PyUnicode_InternFromString("data_ptr"),
                    *kDtype = PyUnicode_InternFromString("dtype"),
                    *kOne = PyLong_FromLong(1);
    py::tuple key(n + 1 + numOptions);
    PyObject *keyp = key.ptr();
    uint64_t values[64];
    uint64_t mask = 0;
    for (size_t i = 0; i < n; ++i) {
      PyObject *v = bound[i], *item;
      values[i] = 0;
      if (constexprType && PyObject_TypeCheck(v, (PyTypeObject *)constexprType.ptr()))
        return slow(py::none()); // tl.constexpr(...) objects: the Python path unwraps them
      if (constexprs[i] || v == Py_None) {
        // True, 1 and 1.0 hash alike but compile differently: key bools and
        // floats with their type.
        if (PyBool_Check(v) || PyFloat_Check(v)) {
          PyTuple_SET_ITEM(keyp, i, py::make_tuple(py::handle((PyObject *)Py_TYPE(v)),
                                                   py::handle(v)).release().ptr());
          continue;
        }
        item = v;
      } else if (PyBool_Check(v)) {
        item = kI1;
        values[i] = v == Py_True;
      } else if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow)
          return slow(py::none());
        if (specialize[i] && x == 1) {
          item = kOne;
        } else {
          item = x < INT32_MIN || x > INT32_MAX ? kI64 : kI32;
          if (specialize[i] && x % 16 == 0)
            mask |= uint64_t(1) << i;
          values[i] = uint64_t(x);
        }
      } else if (PyFloat_CheckExact(v)) {
        item = kF32;
        float f = float(PyFloat_AS_DOUBLE(v));
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        values[i] = bits;
      } else if (PyObject_TypeCheck(v, (PyTypeObject *)tensorType.ptr())) {
        // For torch.Tensor itself, call the attribute descriptors found once
        // on the type (no lookup through the type's MRO per launch).
        bool exact = Py_TYPE(v) == (PyTypeObject *)tensorType.ptr();
        py::object isCuda = py::reinterpret_steal<py::object>(
            exact ? get(isCudaDescr, v) : PyObject_GetAttr(v, kIsCuda));
        if (!isCuda)
          throw py::error_already_set();
        if (isCuda.ptr() != Py_True)
          return slow(py::none()); // raises there
        py::object ptr = py::reinterpret_steal<py::object>(
            exact ? PyObject_Vectorcall(dataPtrDescr.ptr(), &v, 1, nullptr)
                  : PyObject_CallMethodNoArgs(v, kDataPtr));
        if (!ptr)
          throw py::error_already_set();
        uint64_t address = PyLong_AsUnsignedLongLong(ptr.ptr());
        if (specialize[i] && address % 16 == 0)
          mask |= uint64_t(1) << i;
        values[i] = address;
        PyObject *dtype = exact ? get(dtypeDescr, v) : PyObject_GetAttr(v, kDtype);
        if (!dtype)
          throw py::error_already_set();
        PyTuple_SET_ITEM(keyp, i, dtype); // steals
        continue;
      } else {
        return slow(py::none());
      }
      Py_INCREF(item);
      PyTuple_SET_ITEM(keyp, i, item);
    }
    PyTuple_SET_ITEM(keyp, n, PyLong_FromUnsignedLongLong(mask));
    for (size_t j = 0; j < numOptions; ++j) {
      Py_INCREF(options[j]);
      PyTuple_SET_ITEM(keyp, n + 1 + j, options[j]);
    }
    PyObject *found = PyDict_GetItemWithError(entries.ptr(), keyp);
    if (!found) {
      if (PyErr_Occurred()) { // an unhashable constexpr: the Python path
        PyErr_Clear();
        return slow(py::none());
      }
      return slow(key);
    }
    size_t entryIndex = PyLong_AsSize_t(found);

    // A callable grid gets the arguments and launch options by name (the
    // Python path's `meta`), as Triton's does.
    py::object computed;
    if (callableGrid) {
      py::dict meta;
      for (size_t i = 0; i < n; ++i)
        meta[names[i]] = py::handle(bound[i]);
      for (auto &[name, value] : defaultOptions)
        meta[name] = value;
      for (size_t j = 0; j + 1 < numOptions; j += 2)
        meta[py::handle(options[j])] = py::handle(options[j + 1]);
      computed = py::reinterpret_steal<py::object>(
          PyObject_CallOneArg(grid, meta.ptr()));
      if (!computed)
        throw py::error_already_set();
      if (PyLong_Check(computed.ptr()))
        computed = py::make_tuple(computed);
      else if (PyList_Check(computed.ptr()))
        computed = py::reinterpret_steal<py::object>(PyList_AsTuple(computed.ptr()));
      if (!PyTuple_Check(computed.ptr()))
        return slow(py::none()); // raises there
      grid = computed.ptr();
    }
    // After the grid function (Python may have registered kernels meanwhile).
    const Entry &entry = table[entryIndex];
    const CudaKernel &kernel = *entry.kernel;
    rt::LaunchConfig config;
    Py_ssize_t rank = PyTuple_GET_SIZE(grid);
    if (rank < 1 || rank > 3)
      return slow(py::none());
    for (Py_ssize_t d = 0; d < rank; ++d) {
      PyObject *g = PyTuple_GET_ITEM(grid, d);
      long long x = PyLong_Check(g) ? PyLong_AsLongLong(g) : -1;
      if (x < 1 || x > UINT32_MAX) {
        PyErr_Clear();
        return slow(py::none()); // raises there
      }
      config.grid[d] = unsigned(x);
    }
    size_t count = entry.positions.size();
    uint64_t cells[64];
    void *params[64 + CudaKernel::kMaxMaps];
    for (size_t j = 0; j < count; ++j) {
      int i = entry.positions[j];
      uint64_t v = values[i];
      if (entry.kinds[j] == 'd') { // also an int passed to a float parameter
        double x = PyFloat_AsDouble(bound[i]);
        std::memcpy(&v, &x, 8);
      } else if (entry.kinds[j] == 'f') {
        float x = float(PyFloat_AsDouble(bound[i]));
        v = 0;
        std::memcpy(&v, &x, 4);
      }
      cells[j] = v;
      params[j] = &cells[j];
    }
    config.block[0] = kernel.threads;
    config.sharedBytes = kernel.shared;
    if (!getStream.is_none()) {
      // torch's current device is the current context's (cudaSetDevice makes
      // its primary context current); ask torch only when none is current.
      int ordinal = rt::currentOrdinal();
      py::object device = py::reinterpret_steal<py::object>(
          ordinal >= 0 ? PyLong_FromLong(ordinal) : PyObject_CallNoArgs(getDevice.ptr()));
      if (!device)
        throw py::error_already_set();
      py::object stream = py::reinterpret_steal<py::object>(
          PyObject_CallOneArg(getStream.ptr(), device.ptr()));
      if (!stream)
        throw py::error_already_set();
      config.stream = reinterpret_cast<rt::CUstream>(PyLong_AsUnsignedLongLong(stream.ptr()));
    }
    rt::TensorMap maps[CudaKernel::kMaxMaps];
    if (!kernel.maps.empty()) {
      try {
        kernel.addTensorMaps(cells, count, maps, params);
      } catch (const rt::Error &e) {
        throw std::invalid_argument(e.what());
      }
    }
    if (!dryRun)
      rt::launch(kernel.function, config, params);
    return py::none();
  }

  /// For profiling the launch path: do everything but the driver call.
  bool dryRun = false;

private:
  /// `descr.__get__(v)` for a data descriptor found on the tensor type.
  static PyObject *get(const py::object &descr, PyObject *v) {
    descrgetfunc f = Py_TYPE(descr.ptr())->tp_descr_get;
    return f ? f(descr.ptr(), v, (PyObject *)Py_TYPE(v)) : PyObject_GetAttr(v, descr.ptr());
  }
  py::object constexprType;
  py::object isCudaDescr, dataPtrDescr, dtypeDescr;
  std::vector<std::pair<py::object, py::object>> defaultOptions;

public:

private:
  struct Entry {
    py::object owner; // keeps the kernel alive
    CudaKernel *kernel;
    std::vector<int> positions;
    std::string kinds;
  };
  std::vector<Entry> table;
  std::vector<py::str> names;
  std::vector<bool> constexprs, specialize;
  py::tuple defaults;
  py::object missing, fallback, tensorType, getStream, getDevice;
  py::dict entries;
};

PyObject *cudaErrorType = nullptr;

/// Runs `launcher->launch` with C++ exceptions turned into Python ones.
PyObject *callLaunch(FastLauncher *launcher, PyObject *grid,
                     PyObject *const *args, size_t given, PyObject *kwnames) {
  try {
    return launcher->launch(grid, args, given, kwnames).release().ptr();
  } catch (py::error_already_set &e) {
    e.restore();
  } catch (const rt::Error &e) {
    PyErr_SetString(cudaErrorType, e.what());
  } catch (const std::exception &e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

/// `tessera._C.Launchable`: the base class of JITFunction. Its
/// `kernel[grid]` is C: with a fast launcher set, it returns a BoundLaunch
/// that calls it; without one, it calls the Python method `_subscript`.
struct LaunchableObject {
  PyObject_HEAD
  PyObject *owner;        // the FastLauncher (a pybind11 object), or null
  FastLauncher *launcher; // the same, as C++
};

/// `kernel[grid]`: a callable holding the grid (a vectorcall object).
struct BoundLaunchObject {
  PyObject_HEAD
  vectorcallfunc vectorcall;
  PyObject *owner;
  FastLauncher *launcher;
  PyObject *grid;
};

PyTypeObject *boundLaunchType = nullptr;

PyObject *boundLaunchCall(PyObject *self, PyObject *const *args, size_t nargsf,
                          PyObject *kwnames) {
  auto *b = reinterpret_cast<BoundLaunchObject *>(self);
  return callLaunch(b->launcher, b->grid, args, PyVectorcall_NARGS(nargsf), kwnames);
}

void boundLaunchDealloc(PyObject *self) {
  auto *b = reinterpret_cast<BoundLaunchObject *>(self);
  Py_XDECREF(b->owner);
  Py_XDECREF(b->grid);
  PyTypeObject *type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMemberDef boundLaunchMembers[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(BoundLaunchObject, vectorcall), READONLY,
     nullptr},
    {nullptr, 0, 0, 0, nullptr}};

PyType_Slot boundLaunchSlots[] = {
    {Py_tp_dealloc, (void *)boundLaunchDealloc},
    {Py_tp_call, (void *)PyVectorcall_Call},
    {Py_tp_members, boundLaunchMembers},
    {Py_tp_doc, const_cast<char *>("kernel[grid]: call it with the kernel's arguments to launch.")},
    {0, nullptr}};

PyType_Spec boundLaunchSpec = {"tessera._C.BoundLaunch", sizeof(BoundLaunchObject), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL |
                                   Py_TPFLAGS_DISALLOW_INSTANTIATION,
                               boundLaunchSlots};

PyObject *launchableSubscript(PyObject *self, PyObject *grid) {
  auto *l = reinterpret_cast<LaunchableObject *>(self);
  if (!l->launcher) {
    static PyObject *name = PyUnicode_InternFromString("_subscript");
    return PyObject_CallMethodOneArg(self, name, grid);
  }
  auto *b = PyObject_New(BoundLaunchObject, boundLaunchType);
  if (!b)
    return nullptr;
  b->vectorcall = boundLaunchCall;
  b->owner = Py_NewRef(l->owner);
  b->launcher = l->launcher;
  b->grid = Py_NewRef(grid);
  return reinterpret_cast<PyObject *>(b);
}

PyObject *launchableSetFast(PyObject *self, PyObject *launcher) {
  auto *l = reinterpret_cast<LaunchableObject *>(self);
  FastLauncher *raw = nullptr;
  if (launcher != Py_None) {
    try {
      raw = &py::handle(launcher).cast<FastLauncher &>();
    } catch (const std::exception &e) {
      PyErr_SetString(PyExc_TypeError, "_set_fast_launcher takes a FastLauncher or None");
      return nullptr;
    }
  }
  Py_XSETREF(l->owner, raw ? Py_NewRef(launcher) : nullptr);
  l->launcher = raw;
  Py_RETURN_NONE;
}

void launchableDealloc(PyObject *self) {
  auto *l = reinterpret_cast<LaunchableObject *>(self);
  Py_CLEAR(l->owner);
  PyTypeObject *type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef launchableMethods[] = {
    {"_set_fast_launcher", launchableSetFast, METH_O,
     "Route kernel[grid](...) through this FastLauncher (None: through _subscript)."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot launchableSlots[] = {
    {Py_tp_dealloc, (void *)launchableDealloc},
    {Py_mp_subscript, (void *)launchableSubscript},
    {Py_tp_methods, launchableMethods},
    {Py_tp_doc, const_cast<char *>("Base of JITFunction: kernel[grid] in C.")},
    {0, nullptr}};

PyType_Spec launchableSpec = {"tessera._C.Launchable", sizeof(LaunchableObject), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, launchableSlots};

/// Launches `kernel` `count` times from C++ with fixed arguments and returns
/// the mean seconds per launch: the floor under any launch path.
double launchLoop(const CudaKernel &k, std::array<unsigned, 3> grid,
                  std::vector<uint64_t> cells, uint64_t stream, int count) {
  std::vector<void *> params(cells.size());
  for (size_t i = 0; i < cells.size(); ++i)
    params[i] = &cells[i];
  rt::LaunchConfig config;
  for (int d = 0; d < 3; ++d)
    config.grid[d] = grid[d];
  config.block[0] = k.threads;
  config.sharedBytes = k.shared;
  config.stream = reinterpret_cast<rt::CUstream>(stream);
  py::gil_scoped_release release;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i)
    rt::launch(k.function, config, params.data());
  std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  return elapsed.count() / count;
}

/// DLPack's C structures (dlpack.h, ABI-stable since v0.6; v1.0 adds a
/// versioned wrapper around the same DLTensor).
struct DLDevice {
  int32_t deviceType, deviceId;
};
struct DLDataType {
  uint8_t code, bits;
  uint16_t lanes;
};
struct DLTensor {
  void *data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t *shape, *strides;
  uint64_t byteOffset;
};
struct DLManagedTensor {
  DLTensor tensor;
  void *managerContext;
  void (*deleter)(DLManagedTensor *);
};
struct DLManagedTensorVersioned {
  uint32_t major, minor;
  void *managerContext;
  void (*deleter)(DLManagedTensorVersioned *);
  uint64_t flags;
  DLTensor tensor;
};

/// (address, device type, device id, type code, bits, lanes) of a DLPack
/// capsule, which stays unconsumed (its destructor frees it).
py::tuple dlpackInfo(py::capsule capsule) {
  const DLTensor *t = nullptr;
  const char *name = PyCapsule_GetName(capsule.ptr());
  if (name && std::strcmp(name, "dltensor") == 0)
    t = &static_cast<DLManagedTensor *>(PyCapsule_GetPointer(capsule.ptr(), name))->tensor;
  else if (name && std::strcmp(name, "dltensor_versioned") == 0)
    t = &static_cast<DLManagedTensorVersioned *>(PyCapsule_GetPointer(capsule.ptr(), name))->tensor;
  if (!t)
    throw py::type_error(std::string("not an unconsumed DLPack capsule (its name is '") +
                         (name ? name : "") + "')");
  uint64_t address = reinterpret_cast<uint64_t>(t->data) + t->byteOffset;
  return py::make_tuple(address, t->device.deviceType, t->device.deviceId,
                        int(t->dtype.code), int(t->dtype.bits), int(t->dtype.lanes));
}

py::tuple toTuple(const tessera::IRTextResult &result) {
  return py::make_tuple(result.ok, result.ir, result.diagnostics);
}
} // namespace

PYBIND11_MODULE(_C, m) {
  using tessera::cpu::Kernel;

  m.doc() = "Tessera's compiler, as loaded from libtessera.so";
  m.def("version", &tessera::version, "The compiler version.");
  boundLaunchType = reinterpret_cast<PyTypeObject *>(PyType_FromSpec(&boundLaunchSpec));
  PyObject *launchable = PyType_FromSpec(&launchableSpec);
  if (!boundLaunchType || !launchable)
    throw py::error_already_set();
  m.add_object("BoundLaunch", py::reinterpret_borrow<py::object>((PyObject *)boundLaunchType));
  m.add_object("Launchable", py::reinterpret_steal<py::object>(launchable));
  m.def("dlpack_info", &dlpackInfo, py::arg("capsule"),
        "(address, device type, device id, type code, bits, lanes) of a "
        "DLPack capsule.");
  m.def("library_path", &tessera::libraryPath,
        "Path of the loaded libtessera.so.");
  m.def(
      "parse",
      [](const std::string &source, const std::string &name, bool generic) {
        tessera::IRTextResult result;
        {
          py::gil_scoped_release release;
          result = tessera::parseAndPrint(source, name, generic);
        }
        return toTuple(result);
      },
      py::arg("source"), py::arg("name"), py::arg("generic") = false,
      "Parse and verify IR text: (ok, printed IR, diagnostics).");
  m.def(
      "run_pipeline",
      [](const std::string &source, const std::string &name,
         const std::string &pipeline) {
        tessera::IRTextResult result;
        {
          py::gil_scoped_release release;
          result = tessera::runPipeline(source, name, pipeline);
        }
        return toTuple(result);
      },
      py::arg("source"), py::arg("name"), py::arg("pipeline"),
      "Run a textual pass pipeline: (ok, printed IR, diagnostics).");

  py::module_ contraction = m.def_submodule(
      "contraction", "The cost model of tgraph-reorder-contractions");
  contraction.def(
      "plan",
      [](const std::vector<std::string> &inputs, const std::string &output,
         const std::vector<bool> &weights, const std::map<std::string, int64_t> &sizes,
         double peakTflops, double peakTbps, int64_t elementBytes, bool precompute) {
        namespace cc = tessera::contraction;
        cc::Einsum e{inputs, output, weights};
        e.weight.resize(inputs.size(), false);
        if (inputs.size() < 2 || inputs.size() > 16)
          throw std::invalid_argument("plan: 2 to 16 operands, got " +
                                      std::to_string(inputs.size()));
        cc::Sizes z;
        for (auto &[k, v] : sizes) {
          if (k.size() != 1 || v < 1)
            throw std::invalid_argument("plan: sizes map single letters to positive sizes");
          z[k[0]] = v;
        }
        for (const std::string &in : inputs)
          for (char c : in)
            if (!z.count(c))
              throw std::invalid_argument(std::string("plan: no size for index '") + c + "'");
        if (!(peakTflops > 0 && peakTflops < 1e30) || !(peakTbps > 0 && peakTbps < 1e30) ||
            elementBytes < 1)
          throw std::invalid_argument("plan: peaks and element bytes must be positive and finite");
        cc::Machine m;
        m.peakFlops = peakTflops * 1e12;
        m.peakBytes = peakTbps * 1e12;
        m.elementBytes = elementBytes;
        m.precomputeWeights = precompute;
        cc::Plan best = cc::optimalPlan(e, z, m);
        py::list steps;
        for (const cc::Step &s : cc::stepsOf(e, best))
          steps.append(py::make_tuple(s.lhs, s.rhs, s.out, s.weightsOnly));
        return py::make_tuple(best.pairs, steps, cc::describe(e, best),
                              cc::totalFlops(e, best, z), cc::timeOf(e, best, z, m));
      },
      py::arg("inputs"), py::arg("output"), py::arg("weights"), py::arg("sizes"),
      py::arg("peak_tflops") = 989.0, py::arg("peak_tbps") = 4.8, py::arg("element_bytes") = 2,
      py::arg("precompute_weights") = true,
      "The order of least estimated time: (pairs, steps (lhs, rhs, out, weights "
      "only), description, FLOPs, seconds).");
  contraction.def(
      "cost",
      [](const std::vector<std::string> &inputs, const std::string &output,
         const std::vector<bool> &weights, const std::map<std::string, int64_t> &sizes,
         const std::vector<std::pair<int, int>> &pairs, double peakTflops, double peakTbps,
         int64_t elementBytes, bool precompute) {
        namespace cc = tessera::contraction;
        cc::Einsum e{inputs, output, weights};
        e.weight.resize(inputs.size(), false);
        if (weights.size() != inputs.size())
          throw std::invalid_argument("cost: one weight flag per operand");
        if (!(peakTflops > 0 && peakTflops < 1e30) || !(peakTbps > 0 && peakTbps < 1e30) ||
            elementBytes < 1)
          throw std::invalid_argument("cost: peaks and element bytes must be positive and finite");
        cc::Sizes z;
        for (auto &[k, v] : sizes) {
          if (k.size() != 1 || v < 1)
            throw std::invalid_argument("cost: sizes map single letters to positive sizes");
          z[k[0]] = v;
        }
        for (const std::string &in : inputs)
          for (char c : in)
            if (!z.count(c))
              throw std::invalid_argument(std::string("cost: no size for index '") + c + "'");
        cc::Plan plan{pairs};
        size_t n = inputs.size();
        for (auto [i, j] : pairs) {
          if (i < 0 || j <= i || size_t(j) >= n)
            throw std::invalid_argument("cost: a pair is not (i, j), i < j < operands left");
          --n;
        }
        if (n != 1)
          throw std::invalid_argument("cost: the pairs do not reduce to one operand");
        cc::Machine m;
        m.peakFlops = peakTflops * 1e12;
        m.peakBytes = peakTbps * 1e12;
        m.elementBytes = elementBytes;
        m.precomputeWeights = precompute;
        return py::make_tuple(cc::totalFlops(e, plan, z), cc::timeOf(e, plan, z, m),
                              cc::describe(e, plan));
      },
      py::arg("inputs"), py::arg("output"), py::arg("weights"), py::arg("sizes"),
      py::arg("pairs"), py::arg("peak_tflops") = 989.0, py::arg("peak_tbps") = 4.8,
      py::arg("element_bytes") = 2, py::arg("precompute_weights") = true,
      "(FLOPs, seconds, description) of the order `pairs`.");

  py::module_ cpu = m.def_submodule("cpu", "The CPU backend");
  cpu.def("host_target", &tessera::cpu::hostTarget);
  cpu.def("stages", [] {
    py::list out;
    for (const auto &stage : tessera::cpu::stages())
      out.append(py::make_tuple(stage.name, stage.pipeline));
    return out;
  });
  cpu.def(
      "compile",
      [](const std::string &source, const std::string &name, bool dump) {
        tessera::cpu::CompileResult result;
        {
          py::gil_scoped_release release;
          result = tessera::cpu::compile(source, name, dump);
        }
        return py::make_tuple(result.ok, py::bytes(result.object),
                              result.diagnostics, result.dumps);
      },
      py::arg("source"), py::arg("name"), py::arg("dump") = false,
      "Compile tile IR: (ok, object bytes, diagnostics, [(stage, IR)]).");
  py::class_<Kernel>(cpu, "Kernel")
      .def(py::init([](py::bytes object, const std::string &name) {
             std::string error;
             std::unique_ptr<Kernel> kernel =
                 Kernel::load(std::string(object), name, error);
             if (!kernel)
               throw std::runtime_error("cannot load CPU kernel '" + name +
                                        "': " + error);
             return kernel;
           }),
           py::arg("object"), py::arg("name"))
      .def(
          "launch",
          [](const Kernel &kernel, std::array<uint32_t, 3> grid,
             const std::vector<int64_t> &slots, unsigned threads) {
            py::gil_scoped_release release;
            kernel.launch(grid.data(), slots, threads);
          },
          py::arg("grid"), py::arg("slots"), py::arg("threads") = 0,
          "Run every program of the grid; slots: one int64 per argument.");

  py::module_ nvidia = m.def_submodule("nvidia", "The NVIDIA backend");
  nvidia.def("find_ptxas", &tessera::nvidia::findPtxas);
  nvidia.def("find_libdevice", &tessera::nvidia::findLibdevice);
  nvidia.def("stages", [](unsigned numWarps) {
    tessera::nvidia::Options options;
    options.numWarps = numWarps;
    py::list out;
    for (const auto &stage : tessera::nvidia::stages(options))
      out.append(py::make_tuple(stage.name, stage.pipeline));
    return out;
  });
  nvidia.def(
      "compile",
      [](const std::string &source, const std::string &name,
         const std::string &arch, unsigned numWarps, bool cubin, bool dump,
         unsigned numStages, bool tma, bool pingPong, const std::string &libdevice,
         bool producerWarp, unsigned producerRegisters, bool lag) {
        tessera::nvidia::Options options;
        options.libdevice = libdevice;
        options.arch = arch;
        options.numWarps = numWarps;
        options.numStages = numStages;
        options.cubin = cubin;
        options.tma = tma;
        options.pingPong = pingPong;
        options.producerWarp = producerWarp;
        options.producerRegisters = producerRegisters;
        options.lag = lag;
        tessera::nvidia::CompileResult result;
        {
          py::gil_scoped_release release;
          result = tessera::nvidia::compile(source, name, options, dump);
        }
        return py::make_tuple(result.ok, result.ptx, py::bytes(result.cubin),
                              result.sharedBytes, result.diagnostics,
                              result.dumps, result.tmaMaps, result.blockWarps);
      },
      py::arg("source"), py::arg("name"), py::arg("arch"),
      py::arg("num_warps"), py::arg("cubin") = true, py::arg("dump") = false,
      py::arg("num_stages") = 3, py::arg("tma") = true, py::arg("ping_pong") = true,
      py::arg("libdevice") = "", py::arg("producer_warp") = false,
      py::arg("producer_registers") = 0u, py::arg("lag") = false,
      "Compile tile IR: (ok, ptx, cubin, shared bytes, diagnostics, dumps, TMA "
      "tensor map recipes, the block's warps).");

  py::module_ amd = m.def_submodule("amd", "The AMD backend (compile only)");
  amd.def("find_lld", &tessera::amd::findLld);
  amd.def("find_ocml", &tessera::amd::findOcml);
  amd.def("supported_arch", &tessera::amd::supportedArch);
  amd.def("stages", [](unsigned numWarps) {
    tessera::amd::Options options;
    options.numWarps = numWarps;
    py::list out;
    for (const auto &stage : tessera::amd::stages(options))
      out.append(py::make_tuple(stage.name, stage.pipeline));
    return out;
  });
  amd.def(
      "compile",
      [](const std::string &source, const std::string &name, const std::string &arch,
         unsigned numWarps, bool link, bool dump, const std::string &ocml) {
        tessera::amd::Options options;
        options.ocml = ocml;
        options.arch = arch;
        options.numWarps = numWarps;
        options.link = link;
        tessera::amd::CompileResult result;
        {
          py::gil_scoped_release release;
          result = tessera::amd::compile(source, name, options, dump);
        }
        return py::make_tuple(result.ok, result.assembly, py::bytes(result.hsaco),
                              result.sharedBytes, result.diagnostics, result.dumps);
      },
      py::arg("source"), py::arg("name"), py::arg("arch"), py::arg("num_warps"),
      py::arg("link") = true, py::arg("dump") = false, py::arg("ocml") = "",
      "Compile tile IR for gfx90a/gfx942: (ok, AMDGCN assembly, HSACO, LDS bytes, "
      "diagnostics, dumps).");

  py::module_ hip = m.def_submodule("hip", "The HIP runtime (AMD GPUs)");
  py::register_exception<tessera::runtime::hip::Error>(hip, "HipError", PyExc_RuntimeError);
  hip.def("available", &tessera::runtime::hip::Runtime::available);
  hip.def("library", [] { return tessera::runtime::hip::Runtime::get().path(); });
  hip.def("device", [] {
    const auto &d = tessera::runtime::hip::currentDevice();
    py::dict out;
    out["name"] = d.name;
    out["ordinal"] = d.ordinal;
    out["multiprocessors"] = d.multiprocessors;
    out["warp_size"] = d.warpSize;
    out["max_shared"] = d.maxSharedPerBlock;
    return out;
  });
  py::class_<HipKernel>(hip, "Kernel")
      .def(py::init([](py::bytes image, const std::string &name, unsigned numWarps,
                       unsigned lds) {
             auto module = tessera::runtime::hip::loadModule(std::string(image));
             return HipKernel{module, module->function(name), 64 * numWarps, lds};
           }),
           py::arg("image"), py::arg("name"), py::arg("num_warps"), py::arg("lds_bytes"))
      .def_readonly("threads", &HipKernel::threads)
      .def(
          "launch",
          [](const HipKernel &k, std::array<unsigned, 3> grid, uint64_t stream,
             const std::string &kinds, py::sequence args) {
            size_t n = kinds.size();
            if (size_t(py::len(args)) != n)
              throw std::invalid_argument("launch: argument count mismatch");
            std::vector<uint64_t> cells(n);
            std::vector<void *> params(n);
            for (size_t i = 0; i < n; ++i) {
              py::handle a = args[i];
              if (kinds[i] == 'f') {
                float f = a.cast<float>();
                std::memcpy(&cells[i], &f, 4);
              } else if (kinds[i] == 'd') {
                double d = a.cast<double>();
                std::memcpy(&cells[i], &d, 8);
              } else {
                cells[i] = uint64_t(a.cast<long long>());
              }
              params[i] = &cells[i];
            }
            tessera::runtime::hip::LaunchConfig config;
            for (int d = 0; d < 3; ++d)
              config.grid[d] = grid[d];
            config.block[0] = k.threads;
            config.staticLds = k.lds;
            config.stream = reinterpret_cast<tessera::runtime::hip::hipStream_t>(stream);
            tessera::runtime::hip::launch(k.function, config, params.data());
          },
          py::arg("grid"), py::arg("stream"), py::arg("kinds"), py::arg("args"));

  py::module_ cuda = m.def_submodule("cuda", "The CUDA runtime");
  static py::exception<rt::Error> cudaError(cuda, "CudaError", PyExc_RuntimeError);
  cudaErrorType = cudaError.ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p)
        std::rethrow_exception(p);
    } catch (const rt::Error &e) {
      PyErr_SetString(cudaErrorType, e.what());
    }
  });
  cuda.def("available", &rt::CudaDriver::available);
  cuda.def("device", [] {
    const rt::DeviceInfo &d = rt::currentDevice();
    py::dict out;
    out["name"] = d.name;
    out["major"] = d.major;
    out["minor"] = d.minor;
    out["multiprocessors"] = d.multiprocessors;
    out["max_shared_optin"] = d.maxSharedPerBlockOptin;
    return out;
  });
  cuda.def("pointer_kind", [](uint64_t pointer) {
    switch (rt::pointerKind(pointer)) {
    case rt::MemoryKind::Device:
      return "device";
    case rt::MemoryKind::Unified:
      return "unified";
    case rt::MemoryKind::Host:
      return "host";
    default:
      return "unknown";
    }
  });
  py::class_<CudaKernel>(cuda, "Kernel")
      .def(py::init([](py::bytes image, const std::string &name,
                       unsigned numWarps, unsigned sharedBytes,
                       const std::vector<std::string> &maps) {
             if (maps.size() > CudaKernel::kMaxMaps)
               throw std::invalid_argument("a kernel takes at most 8 TMA tensor maps");
             auto module = rt::ModuleCache::get().load(std::string(image));
             CudaKernel kernel{module, module->function(name), 32 * numWarps,
                               sharedBytes, {}};
             for (const std::string &map : maps)
               kernel.maps.push_back(rt::TensorMapRecipe::parse(map));
             return kernel;
           }),
           py::arg("image"), py::arg("name"), py::arg("num_warps"),
           py::arg("shared_bytes"), py::arg("tma_maps") = std::vector<std::string>())
      .def(
          "launch",
          [](const CudaKernel &k, std::array<unsigned, 3> grid, uint64_t stream,
             const std::string &kinds, py::sequence args) {
            // One 8-byte cell per argument, read by the driver at the size
            // of the kernel's parameter.
            size_t n = kinds.size();
            if (size_t(py::len(args)) != n)
              throw std::invalid_argument("launch: argument count mismatch");
            std::vector<uint64_t> cells(n);
            std::vector<void *> params(n + k.maps.size());
            for (size_t i = 0; i < n; ++i) {
              py::handle a = args[i];
              switch (kinds[i]) {
              case 'f': {
                float f = a.cast<float>();
                std::memcpy(&cells[i], &f, 4);
                break;
              }
              case 'd': {
                double d = a.cast<double>();
                std::memcpy(&cells[i], &d, 8);
                break;
              }
              default: // pointers and integers
                cells[i] = uint64_t(a.cast<long long>());
              }
              params[i] = &cells[i];
            }
            rt::TensorMap maps[CudaKernel::kMaxMaps];
            if (!k.maps.empty()) {
              try {
                k.addTensorMaps(cells.data(), n, maps, params.data());
              } catch (const rt::Error &e) {
                throw std::invalid_argument(e.what());
              }
            }
            rt::LaunchConfig config;
            config.grid[0] = grid[0];
            config.grid[1] = grid[1];
            config.grid[2] = grid[2];
            config.block[0] = k.threads;
            config.sharedBytes = k.shared;
            config.stream = reinterpret_cast<rt::CUstream>(stream);
            rt::launch(k.function, config, params.data());
          },
          py::arg("grid"), py::arg("stream"), py::arg("kinds"),
          py::arg("args"));
  py::class_<FastLauncher>(cuda, "FastLauncher")
      .def(py::init<std::vector<std::string>, std::vector<bool>,
                    std::vector<bool>, py::tuple, py::object, py::object,
                    py::object, py::object, py::object, py::dict, py::object>())
      .def("register", &FastLauncher::registerKernel)
      .def("__len__", &FastLauncher::size)
      .def_readwrite("dry_run", &FastLauncher::dryRun);
  cuda.def("launch_loop", &launchLoop, py::arg("kernel"), py::arg("grid"),
           py::arg("cells"), py::arg("stream"), py::arg("count"),
           "Seconds per launch of `count` launches from C++ (a floor for "
           "the Python launch paths).");
  py::class_<rt::EventTimer>(cuda, "EventTimer",
                             "Device milliseconds between two events on a stream.")
      .def(py::init<>())
      .def("start", [](rt::EventTimer &t, uint64_t stream) {
        t.start(reinterpret_cast<rt::CUstream>(stream));
      }, py::arg("stream"))
      .def("stop", [](rt::EventTimer &t, uint64_t stream) {
        t.stop(reinterpret_cast<rt::CUstream>(stream));
      }, py::arg("stream"))
      .def("milliseconds", &rt::EventTimer::milliseconds);
  cuda.def("flush_l2", [](uint64_t stream) {
    rt::flushL2(reinterpret_cast<rt::CUstream>(stream));
  }, py::arg("stream"), "Queues a 256 MiB write on `stream`: the next kernel starts with a cold L2.");
  cuda.def("synchronize", [] {
    auto &cu = rt::CudaDriver::get();
    cu.check(cu.cuCtxSynchronize(), "cuCtxSynchronize");
  });
}
