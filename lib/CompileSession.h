//===- CompileSession.h - Parse tile IR and run a backend's stages -*- C++ -*-//
//
// What every backend's compile() starts with: a context with all dialects
// and LLVM IR translations, the IR parsed and verified with diagnostics
// collected as located text, and the stages (textual pass pipelines) run in
// order, optionally printing the IR after each.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_LIB_COMPILESESSION_H
#define TESSERA_LIB_COMPILESESSION_H

#include "tessera/Stage.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <string>

namespace llvm {
class Module;
class TargetMachine;
} // namespace llvm
#include <utility>
#include <vector>

namespace tessera {

class CompileSession {
public:
  /// Diagnostics go to `diagnostics`.
  CompileSession(const std::string &source, const std::string &bufferName,
                 std::string &diagnostics);

  /// The parsed and verified module, or null (with diagnostics).
  mlir::OwningOpRef<mlir::ModuleOp> parse();

  /// Runs (name, pipeline) stages on `module`; on failure reports which of
  /// `backend`'s stages failed. With `dumps`, records the IR after each.
  mlir::LogicalResult
  runStages(mlir::ModuleOp module, const std::vector<Stage> &stages,
            const char *backend,
            std::vector<std::pair<std::string, std::string>> *dumps);

  llvm::raw_ostream &diag() { return diagOS; }
  mlir::MLIRContext &getContext() { return context; }

private:
  mlir::MLIRContext context;
  llvm::SourceMgr sourceMgr;
  llvm::raw_string_ostream diagOS;
  mlir::SourceMgrDiagnosticHandler handler;
};

/// The textual form of an operation.
std::string printOp(mlir::Operation *op);

/// Sets `module`'s data layout and triple for `machine` and optimizes it at
/// -O3; with `dumps`, records the result as stage "llvm-ir". Reports
/// failures to `diag`.
bool optimizeForTarget(llvm::Module &module, llvm::TargetMachine &machine,
                       llvm::raw_ostream &diag,
                       std::vector<std::pair<std::string, std::string>> *dumps);

/// Links into `module` the functions of a device library (a bitcode file)
/// that it calls: the declarations whose names start with `prefix`
/// (`__nv_` for CUDA's libdevice, `__ocml_` for ROCm's ocml). Only what is
/// called is linked, and made internal so the optimizer inlines it; `what`
/// names the library in errors. Does nothing when nothing is called. (A
/// missing library is checkDeviceLibrary's error, before translation.)
bool linkDeviceLibrary(llvm::Module &module, llvm::TargetMachine &machine,
                       llvm::StringRef prefix, const std::string &path,
                       llvm::StringRef what, llvm::raw_ostream &diag);

/// Before translation: when `module` calls a device library function (a
/// name starting with `prefix`) and `path` is empty or missing, reports
/// it at the call's source line (the kernel's Python line) and fails.
mlir::LogicalResult checkDeviceLibrary(mlir::ModuleOp module, llvm::StringRef prefix,
                                       const std::string &path, llvm::StringRef what,
                                       llvm::StringRef hint);

/// Emits `module` as an object file or assembly (PTX) into `out`.
bool emitCode(llvm::Module &module, llvm::TargetMachine &machine,
              bool assembly, std::string &out, llvm::raw_ostream &diag);

} // namespace tessera

#endif // TESSERA_LIB_COMPILESESSION_H
