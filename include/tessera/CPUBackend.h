//===- CPUBackend.h - The CPU backend: compile, load, launch ---*- C++ -*-===//
//
// The embedded default backend: tile IR -> tensors -> buffers and loops ->
// LLVM IR -> host object code, loaded with ORC and run with one program
// instance per task on a thread pool.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_CPUBACKEND_H
#define TESSERA_CPUBACKEND_H

#include "tessera/Stage.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tessera::cpu {

using tessera::Stage;

/// The stages, in order; the object file is emitted after the last.
const std::vector<Stage> &stages();

/// The host the objects are compiled for, e.g. "x86_64-pc-linux-gnu/znver3";
/// part of every cache key.
std::string hostTarget();

struct CompileResult {
  bool ok = false;
  /// The relocatable object holding `<kernel>__entry`.
  std::string object;
  /// Located diagnostics (`file:line:col: error: ...`) on failure.
  std::string diagnostics;
  /// (stage name, IR after the stage) when dumping was asked for.
  std::vector<std::pair<std::string, std::string>> dumps;
};

/// Compiles the tile IR in `source` (diagnostics reported against
/// `bufferName`) to an object file. With `dumpStages`, the IR after each
/// stage (and the LLVM IR) is returned in `dumps`.
CompileResult compile(const std::string &source, const std::string &bufferName,
                      bool dumpStages);

/// A compiled kernel loaded into the process.
class Kernel {
public:
  /// Loads `object` and finds `<kernelName>__entry`. Returns null and sets
  /// `error` on failure.
  static std::unique_ptr<Kernel> load(const std::string &object,
                                      const std::string &kernelName,
                                      std::string &error);
  ~Kernel();

  /// Runs every program instance of `grid` (x, y, z), `numThreads` at a time
  /// (0: one per hardware thread). `slots` holds one 8-byte slot per kernel
  /// argument.
  void launch(const uint32_t grid[3], const std::vector<int64_t> &slots,
              unsigned numThreads) const;

private:
  using EntryFn = void (*)(const int64_t *, int32_t, int32_t, int32_t,
                           int32_t, int32_t, int32_t);
  Kernel() = default;
  EntryFn entry = nullptr;
  std::string dylibName;
};

} // namespace tessera::cpu

#endif // TESSERA_CPUBACKEND_H
