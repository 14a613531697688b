//===- IRText.h - Parse, verify, transform and print IR text ---*- C++ -*-===//
//
// The textual entry points into the compiler used by the Python extension:
// every diagnostic comes back as text with its location, never as a crash.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_IRTEXT_H
#define TESSERA_IRTEXT_H

#include <string>

namespace tessera {

/// Outcome of an IR text operation: the printed IR on success, the
/// diagnostics (one per line, `name:line:col: error: ...`) on failure.
struct IRTextResult {
  bool ok = false;
  std::string ir;
  std::string diagnostics;
};

/// Parses and verifies `source`, whose diagnostics are reported against
/// `bufferName`, and prints it back (in generic form when `generic`).
IRTextResult parseAndPrint(const std::string &source,
                           const std::string &bufferName, bool generic);

/// Parses `source`, runs the textual pass pipeline `pipeline` (as given to
/// tessera-opt's --pass-pipeline, e.g. "builtin.module(canonicalize)") and
/// prints the result.
IRTextResult runPipeline(const std::string &source,
                         const std::string &bufferName,
                         const std::string &pipeline);

/// The compiler version, part of every cache key.
const char *version();

/// The path of the loaded libtessera.so; its size and modification time
/// identify the compiler build in cache keys.
std::string libraryPath();

} // namespace tessera

#endif // TESSERA_IRTEXT_H
