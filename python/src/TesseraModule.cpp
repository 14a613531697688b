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

#include <array>
#include <cstring>
#include <stdexcept>

namespace py = pybind11;

namespace {
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

  namespace rt = tessera::runtime;
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
  struct CudaKernel {
    std::shared_ptr<rt::Module> module;
    rt::CUfunction function;
    unsigned threads;
    unsigned shared;
  };
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
  cuda.def("synchronize", [] {
    auto &cu = rt::CudaDriver::get();
    cu.check(cu.cuCtxSynchronize(), "cuCtxSynchronize");
  });
}
