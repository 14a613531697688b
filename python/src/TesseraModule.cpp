//===- TesseraModule.cpp - The tessera._C extension -----------------------===//
//
// The one Python extension. It stays thin: it forwards to libtessera.so and
// returns plain values; Python turns failures into exceptions.
//
//===----------------------------------------------------------------------===//

#include "tessera/CPUBackend.h"
#include "tessera/IRText.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>

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
}
