//===- CompileSession.cpp - Parse tile IR and run a backend's stages ------===//

#include "CompileSession.h"

#include "tessera/InitAll.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/ROCDL/ROCDLToLLVMIRTranslation.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/IRReader/IRReader.h"
#include "llvm/Linker/Linker.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"

using namespace mlir;

namespace {
DialectRegistry fullRegistry() {
  tessera::registerAllPasses();
  DialectRegistry registry;
  tessera::registerAllDialects(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  registerROCDLDialectTranslation(registry);
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
    ModuleOp module, const std::vector<Stage> &stages, const char *backend,
    std::vector<std::pair<std::string, std::string>> *dumps) {
  for (const auto &[name, pipeline] : stages) {
    FailureOr<OpPassManager> parsed = parsePassPipeline(pipeline, diagOS);
    if (failed(parsed))
      return failure();
    PassManager pm(&context, parsed->getOpAnchorName());
    static_cast<OpPassManager &>(pm) = std::move(*parsed);
    size_t before = diagOS.tell();
    if (failed(pm.run(module))) {
      if (diagOS.tell() == before) // a pass failed without saying why
        diagOS << "error: a pass of the '" << name << "' stage failed without a diagnostic "
               << "(pipeline: " << pipeline << "); please report this kernel\n";
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

bool tessera::optimizeForTarget(
    llvm::Module &module, llvm::TargetMachine &machine, llvm::raw_ostream &diag,
    std::vector<std::pair<std::string, std::string>> *dumps) {
  module.setDataLayout(machine.createDataLayout());
  module.setTargetTriple(machine.getTargetTriple());
  auto optimize = makeOptimizingTransformer(3, 0, &machine);
  if (llvm::Error err = optimize(&module)) {
    diag << "error: LLVM optimization failed: " << llvm::toString(std::move(err))
         << "\n";
    return false;
  }
  if (dumps) {
    std::string text;
    llvm::raw_string_ostream os(text);
    module.print(os, nullptr);
    dumps->emplace_back("llvm-ir", text);
  }
  return true;
}

LogicalResult tessera::checkDeviceLibrary(ModuleOp module, llvm::StringRef prefix,
                                          const std::string &path, llvm::StringRef what,
                                          llvm::StringRef hint) {
  if (!path.empty() && llvm::sys::fs::exists(path))
    return success();
  WalkResult r = module.walk([&](LLVM::CallOp call) {
    std::optional<llvm::StringRef> callee = call.getCallee();
    if (!callee || !callee->starts_with(prefix))
      return WalkResult::advance();
    // __nv_erff, __nv_erf, __ocml_erf_f32: erf.
    Type type = call.getResult().getType();
    llvm::StringRef fn = callee->drop_front(prefix.size());
    if (fn.ends_with("_f32") || fn.ends_with("_f64"))
      fn = fn.drop_back(4);
    else if (type.isF32() && fn.ends_with("f"))
      fn = fn.drop_back(1);
    call.emitError() << fn << " on " << type << " is computed by " << what << ", which was not found"
                     << (path.empty() ? "" : " ('" + path + "' does not exist)") << ": " << hint;
    return WalkResult::interrupt();
  });
  return failure(r.wasInterrupted());
}

bool tessera::linkDeviceLibrary(llvm::Module &module, llvm::TargetMachine &machine,
                                llvm::StringRef prefix, const std::string &path,
                                llvm::StringRef what, llvm::raw_ostream &diag) {
  if (llvm::none_of(module.functions(), [&](llvm::Function &f) {
        return f.isDeclaration() && f.getName().starts_with(prefix) && !f.use_empty();
      }))
    return true;
  // (checkDeviceLibrary has reported a missing library at its call's line.)
  module.setDataLayout(machine.createDataLayout());
  module.setTargetTriple(machine.getTargetTriple());
  llvm::SMDiagnostic error;
  std::unique_ptr<llvm::Module> library = llvm::parseIRFile(path, error, module.getContext());
  if (!library) {
    diag << "error: cannot read the device library '" << path << "': " << error.getMessage()
         << "\n";
    return false;
  }
  library->setDataLayout(module.getDataLayout());
  library->setTargetTriple(module.getTargetTriple());
  llvm::StringSet<> ours;
  for (llvm::GlobalValue &g : module.global_values())
    if (!g.isDeclaration())
      ours.insert(g.getName());
  if (llvm::Linker::linkModules(module, std::move(library),
                                llvm::Linker::Flags::LinkOnlyNeeded)) {
    diag << "error: linking the device library '" << path << "' failed\n";
    return false;
  }
  // What came from the library is the kernels' alone: internal, so it is
  // inlined and the rest dropped.
  for (llvm::GlobalValue &g : module.global_values())
    if (!g.isDeclaration() && !ours.contains(g.getName()))
      g.setLinkage(llvm::GlobalValue::InternalLinkage);
  for (llvm::Function &f : module.functions())
    if (f.isDeclaration() && f.getName().starts_with(prefix) && !f.use_empty()) {
      diag << "error: " << what << " ('" << path << "') has no " << f.getName() << "\n";
      return false;
    }
  return true;
}

bool tessera::emitCode(llvm::Module &module, llvm::TargetMachine &machine,
                       bool assembly, std::string &out, llvm::raw_ostream &diag) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager codegen;
  if (machine.addPassesToEmitFile(codegen, os, nullptr,
                                  assembly ? llvm::CodeGenFileType::AssemblyFile
                                           : llvm::CodeGenFileType::ObjectFile)) {
    diag << "error: the target cannot emit " << (assembly ? "assembly" : "objects")
         << "\n";
    return false;
  }
  codegen.run(module);
  out.assign(buffer.begin(), buffer.end());
  return true;
}
