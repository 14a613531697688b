//===- TesseraModule.cpp - The tessera._C extension -----------------------===//
//
// The one Python extension. It stays thin: it forwards to libtessera.so and
// returns plain values; Python turns failures into exceptions.
//
//===----------------------------------------------------------------------===//

#include "tessera/CPUBackend.h"
#include "tessera/IRText.h"
#include "tessera/NVIDIABackend.h"

#include "cuda/CudaModule.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
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
};

/// The launch fast path of one @jit kernel on the CUDA backend: binds the
/// arguments, computes the specialization key of the Python path
/// (runtime/jit.py) in C++, finds the compiled kernel and launches it. A
/// miss, a callable grid, launch options or an argument of another kind go
/// to the Python path (`fallback`), which compiles and registers the kernel.
class FastLauncher {
public:
  FastLauncher(std::vector<std::string> names, std::vector<bool> constexprs,
               std::vector<bool> specialize, py::tuple defaults,
               py::object missing, py::object fallback, py::object tensorType,
               py::object getStream, py::object getDevice)
      : names(std::move(names)), constexprs(std::move(constexprs)),
        specialize(std::move(specialize)), defaults(std::move(defaults)),
        missing(std::move(missing)), fallback(std::move(fallback)),
        tensorType(std::move(tensorType)),
        getStream(std::move(getStream)), getDevice(std::move(getDevice)) {}

  void registerKernel(py::tuple key, py::object kernel,
                      std::vector<int> positions, std::string kinds) {
    Entry entry{kernel, &kernel.cast<CudaKernel &>(), std::move(positions),
                std::move(kinds)};
    entries[key] = py::int_(table.size());
    table.push_back(std::move(entry));
  }
  size_t size() const { return py::len(entries); }

  py::object launch(py::object grid, py::args args, py::kwargs kwargs) {
    size_t n = names.size();
    std::vector<py::handle> bound(n);
    size_t given = py::len(args);
    if (given > n)
      return fallback(py::none(), grid, args, kwargs);
    for (size_t i = 0; i < given; ++i)
      bound[i] = args[i];
    size_t matched = 0;
    for (size_t i = given; i < n; ++i) {
      if (kwargs.contains(names[i].c_str())) {
        bound[i] = kwargs[names[i].c_str()];
        ++matched;
      } else if (defaults[i].ptr() != missing.ptr()) {
        bound[i] = defaults[i];
      }
      if (!bound[i])
        return fallback(py::none(), grid, args, kwargs);
    }
    // Launch options (num_warps=...) join the key; unknown names and
    // callable grids take the Python path.
    std::vector<std::pair<py::handle, py::handle>> options;
    if (matched != py::len(kwargs)) {
      for (auto item : kwargs) {
        std::string name = py::str(item.first);
        if (std::find(names.begin(), names.end(), name) != names.end())
          continue;
        if (name != "num_warps" && name != "num_stages")
          return fallback(py::none(), grid, args, kwargs);
        options.emplace_back(item.first, item.second);
      }
    }
    if (!py::isinstance<py::tuple>(grid))
      return fallback(py::none(), grid, args, kwargs);

    // Interned key items: no allocation per launch.
    // Leaked on purpose: they must outlive the interpreter's finalization.
    static py::str &kI1 = *new py::str("i1"), &kI32 = *new py::str("i32"),
                   &kI32D = *new py::str("i32D"), &kI64 = *new py::str("i64"),
                   &kI64D = *new py::str("i64D"), &kF32 = *new py::str("f32");
    static py::int_ &kOne = *new py::int_(1);
    py::tuple key(n + options.size());
    std::vector<uint64_t> values(n, 0);
    for (size_t j = 0; j < options.size(); ++j)
      key[n + j] = py::make_tuple(options[j].first, options[j].second);
    for (size_t i = 0; i < n; ++i) {
      PyObject *v = bound[i].ptr();
      if (constexprs[i] || v == Py_None) {
        key[i] = bound[i];
        continue;
      }
      if (PyBool_Check(v)) {
        key[i] = kI1;
        values[i] = v == Py_True;
      } else if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow)
          return fallback(py::none(), grid, args, kwargs);
        if (specialize[i] && x == 1) {
          key[i] = kOne;
          continue;
        }
        bool wide = x < INT32_MIN || x > INT32_MAX;
        bool div16 = specialize[i] && x % 16 == 0;
        key[i] = wide ? (div16 ? kI64D : kI64) : (div16 ? kI32D : kI32);
        values[i] = uint64_t(x);
      } else if (PyFloat_CheckExact(v)) {
        key[i] = kF32;
        float f = float(PyFloat_AS_DOUBLE(v));
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        values[i] = bits;
      } else if (PyObject_IsInstance(v, tensorType.ptr()) == 1) {
        py::handle t = bound[i];
        if (!t.attr("is_cuda").cast<bool>())
          return fallback(py::none(), grid, args, kwargs); // raises there
        uint64_t address = t.attr("data_ptr")().cast<uint64_t>();
        bool aligned = specialize[i] && address % 16 == 0;
        key[i] = py::make_tuple(t.attr("dtype"), aligned);
        values[i] = address;
      } else {
        return fallback(py::none(), grid, args, kwargs);
      }
    }
    PyObject *found = PyDict_GetItemWithError(entries.ptr(), key.ptr());
    if (!found) {
      if (PyErr_Occurred())
        throw py::error_already_set();
      return fallback(key, grid, args, kwargs);
    }
    const Entry &entry = table[PyLong_AsSize_t(found)];
    const CudaKernel &kernel = *entry.kernel;
    const std::vector<int> &positions = entry.positions;
    const std::string &kinds = entry.kinds;

    rt::LaunchConfig config;
    auto dims = grid.cast<py::tuple>();
    if (py::len(dims) < 1 || py::len(dims) > 3)
      return fallback(py::none(), grid, args, kwargs);
    for (size_t d = 0; d < py::len(dims); ++d) {
      long long g = dims[d].cast<long long>();
      if (g < 1 || g > UINT32_MAX)
        return fallback(py::none(), grid, args, kwargs); // raises there
      config.grid[d] = unsigned(g);
    }
    std::vector<uint64_t> cells(positions.size());
    std::vector<void *> params(positions.size());
    for (size_t j = 0; j < positions.size(); ++j) {
      uint64_t v = values[positions[j]];
      if (kinds[j] == 'd') {
        double x = bound[positions[j]].cast<double>();
        std::memcpy(&v, &x, 8);
      }
      cells[j] = v;
      params[j] = &cells[j];
    }
    config.block[0] = kernel.threads;
    config.sharedBytes = kernel.shared;
    if (!getStream.is_none())
      config.stream = reinterpret_cast<rt::CUstream>(
          getStream(getDevice()).cast<uint64_t>());
    rt::launch(kernel.function, config, params.data());
    return py::none();
  }

private:
  struct Entry {
    py::object owner; // keeps the kernel alive
    CudaKernel *kernel;
    std::vector<int> positions;
    std::string kinds;
  };
  std::vector<Entry> table;
  std::vector<std::string> names;
  std::vector<bool> constexprs, specialize;
  py::tuple defaults;
  py::object missing, fallback, tensorType, getStream, getDevice;
  py::dict entries;
};

py::tuple toTuple(const tessera::IRTextResult &result) {
  return py::make_tuple(result.ok, result.ir, result.diagnostics);
}
} // namespace

PYBIND11_MODULE(_C, m) {
  using tessera::cpu::Kernel;

  m.doc() = "Tessera's compiler, as loaded from libtessera.so";
  m.def("version", &tessera::version, "The compiler version.");
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
         const std::string &arch, unsigned numWarps, bool cubin, bool dump) {
        tessera::nvidia::Options options;
        options.arch = arch;
        options.numWarps = numWarps;
        options.cubin = cubin;
        tessera::nvidia::CompileResult result;
        {
          py::gil_scoped_release release;
          result = tessera::nvidia::compile(source, name, options, dump);
        }
        return py::make_tuple(result.ok, result.ptx, py::bytes(result.cubin),
                              result.sharedBytes, result.diagnostics,
                              result.dumps);
      },
      py::arg("source"), py::arg("name"), py::arg("arch"),
      py::arg("num_warps"), py::arg("cubin") = true, py::arg("dump") = false,
      "Compile tile IR: (ok, ptx, cubin, shared bytes, diagnostics, dumps).");

  py::module_ cuda = m.def_submodule("cuda", "The CUDA runtime");
  static py::exception<rt::Error> cudaError(cuda, "CudaError", PyExc_RuntimeError);
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
                       unsigned numWarps, unsigned sharedBytes) {
             auto module = rt::ModuleCache::get().load(std::string(image));
             return CudaKernel{module, module->function(name), 32 * numWarps,
                               sharedBytes};
           }),
           py::arg("image"), py::arg("name"), py::arg("num_warps"),
           py::arg("shared_bytes"))
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
            std::vector<void *> params(n);
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
                    py::object, py::object, py::object>())
      .def("register", &FastLauncher::registerKernel)
      .def("__len__", &FastLauncher::size)
      .def("launch", &FastLauncher::launch);
  cuda.def("synchronize", [] {
    auto &cu = rt::CudaDriver::get();
    cu.check(cu.cuCtxSynchronize(), "cuCtxSynchronize");
  });
}
