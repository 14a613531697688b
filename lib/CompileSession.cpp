//===- CompileSession.cpp - Parse tile IR and run a backend's stages ------===//

#include "CompileSession.h"

#include "tessera/InitAll.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"

using namespace mlir;

namespace {
DialectRegistry fullRegistry() {
  tessera::registerAllPasses();
  DialectRegistry registry;
  tessera::registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  return registry;
}
} // namespace

tessera::CompileSession::CompileSession(const std::string &source,
                                        const std::string &bufferName,
                                        std::string &diagnostics)
    : context(fullRegistry(), MLIRContext::Threading::DISABLED),
      diagOS(diagnostics), handler(sourceMgr, &context, diagOS) {
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(source, bufferName), llvm::SMLoc());
}

OwningOpRef<ModuleOp> tessera::CompileSession::parse() {
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module || failed(verify(*module)))
    return nullptr;
  return module;
}

LogicalResult tessera::CompileSession::runStages(
    ModuleOp module,
    const std::vector<std::pair<std::string, std::string>> &stages,
    const char *backend,
    std::vector<std::pair<std::string, std::string>> *dumps) {
  for (const auto &[name, pipeline] : stages) {
    FailureOr<OpPassManager> parsed = parsePassPipeline(pipeline, diagOS);
    if (failed(parsed))
      return failure();
    PassManager pm(&context, parsed->getOpAnchorName());
    static_cast<OpPassManager &>(pm) = std::move(*parsed);
    if (failed(pm.run(module))) {
      diagOS << "(in the " << backend << " backend's '" << name << "' stage)\n";
      return failure();
    }
    if (dumps)
      dumps->emplace_back(name, printOp(module));
  }
  return success();
}

std::string tessera::printOp(Operation *op) {
  std::string text;
  llvm::raw_string_ostream os(text);
  op->print(os);
  return text;
}
