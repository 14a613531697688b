//===- IRText.cpp - Parse, verify, transform and print IR text ------------===//

#include "tessera/IRText.h"

#include "tessera/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <dlfcn.h>

using namespace mlir;

namespace {
/// A context with every Tessera dialect and a handler that collects
/// diagnostics as `buffer:line:col: severity: message` text.
struct Session {
  explicit Session(const std::string &source, const std::string &name)
      : context(makeRegistry(), MLIRContext::Threading::DISABLED),
        diagOS(diagnostics),
        handler(sourceMgr, &context, diagOS) {
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(source, name), llvm::SMLoc());
    context.allowUnregisteredDialects(false);
  }

  static DialectRegistry makeRegistry() {
    DialectRegistry registry;
    tessera::registerAllDialects(registry);
    return registry;
  }

  OwningOpRef<ModuleOp> parse() {
    return parseSourceFile<ModuleOp>(sourceMgr, &context);
  }

  tessera::IRTextResult fail() {
    diagOS.flush();
    return {false, "", diagnostics};
  }

  MLIRContext context;
  llvm::SourceMgr sourceMgr;
  std::string diagnostics;
  llvm::raw_string_ostream diagOS;
  SourceMgrDiagnosticHandler handler;
};

std::string print(ModuleOp module, bool generic) {
  std::string text;
  llvm::raw_string_ostream os(text);
  OpPrintingFlags flags;
  if (generic)
    flags.printGenericOpForm();
  module->print(os, flags);
  return text;
}
} // namespace

tessera::IRTextResult tessera::parseAndPrint(const std::string &source,
                                             const std::string &bufferName,
                                             bool generic) {
  Session session(source, bufferName);
  OwningOpRef<ModuleOp> module = session.parse();
  if (!module || failed(verify(*module)))
    return session.fail();
  return {true, print(*module, generic), ""};
}

tessera::IRTextResult tessera::runPipeline(const std::string &source,
                                           const std::string &bufferName,
                                           const std::string &pipeline) {
  registerAllPasses();
  Session session(source, bufferName);
  OwningOpRef<ModuleOp> module = session.parse();
  if (!module)
    return session.fail();
  // The pipeline names its anchor, as in `builtin.module(canonicalize)`.
  std::string parseErrors;
  llvm::raw_string_ostream errOS(parseErrors);
  FailureOr<OpPassManager> parsed = parsePassPipeline(pipeline, errOS);
  if (failed(parsed))
    return {false, "", "invalid pass pipeline '" + pipeline + "': " +
                           errOS.str()};
  PassManager pm(&session.context, parsed->getOpAnchorName());
  static_cast<OpPassManager &>(pm) = std::move(*parsed);
  if (failed(pm.run(*module)))
    return session.fail();
  return {true, print(*module, /*generic=*/false), ""};
}

const char *tessera::version() { return TESSERA_VERSION; }

std::string tessera::libraryPath() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void *>(&tessera::libraryPath), &info) &&
      info.dli_fname)
    return info.dli_fname;
  return "";
}
