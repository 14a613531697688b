//===- TesseraModule.cpp - The tessera._C extension -----------------------===//
//
// The one Python extension. It stays thin: it forwards to libtessera.so and
// returns plain values; Python turns failures into exceptions.
//
//===----------------------------------------------------------------------===//

#include "tessera/IRText.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

namespace py = pybind11;

namespace {
py::tuple toTuple(const tessera::IRTextResult &result) {
  return py::make_tuple(result.ok, result.ir, result.diagnostics);
}
} // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "Tessera's compiler, as loaded from libtessera.so";
  m.def("version", &tessera::version, "The compiler version.");
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
}
