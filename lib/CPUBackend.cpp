//===- CPUBackend.cpp - CPU pipeline and object emission ------------------===//

#include "tessera/CPUBackend.h"

#include "tessera/InitAll.h"

#include "CompileSession.h"

#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <mutex>

using namespace mlir;

const std::vector<tessera::cpu::Stage> &tessera::cpu::stages() {
  static const std::vector<Stage> kStages = {
      {"tile", "builtin.module(inline,symbol-dce,canonicalize,cse,tile-lower-descriptors,"
               "tile-widen-offsets,tile-combine,canonicalize,loop-invariant-code-motion,cse)"},
      {"tensor", "builtin.module(convert-tile-to-cpu,"
                 "convert-elementwise-to-linalg,canonicalize,cse)"},
      {"buffer", "builtin.module(one-shot-bufferize{allow-return-allocs-from-loops},"
                 "buffer-deallocation-pipeline,"
                 "convert-bufferization-to-memref,canonicalize,cse)"},
      {"loops", "builtin.module(lower-tile-cpu-atomics,convert-linalg-to-loops,"
                "expand-strided-metadata,lower-affine,convert-scf-to-cf,"
                "canonicalize,cse)"},
      {"llvm", "builtin.module(arith-expand{include-bf16=true},"
               "convert-math-to-llvm,convert-math-to-libm,"
               "convert-arith-to-llvm,convert-index-to-llvm,"
               "finalize-memref-to-llvm,convert-cf-to-llvm,"
               "convert-func-to-llvm,convert-ub-to-llvm,"
               "reconcile-unrealized-casts)"},
  };
  return kStages;
}

namespace {

void initializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
  });
}

std::string hostFeatures() {
  std::string features;
  for (auto &f : llvm::sys::getHostCPUFeatures()) {
    if (!features.empty())
      features += ",";
    features += (f.second ? "+" : "-") + f.first().str();
  }
  return features;
}

std::unique_ptr<llvm::TargetMachine> hostMachine(std::string &error) {
  initializeNativeTarget();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  return std::unique_ptr<llvm::TargetMachine>(target->createTargetMachine(
      triple, llvm::sys::getHostCPUName(), hostFeatures(),
      llvm::TargetOptions(), llvm::Reloc::PIC_, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
}


} // namespace

std::string tessera::cpu::hostTarget() {
  return llvm::sys::getProcessTriple() + "/" +
         llvm::sys::getHostCPUName().str();
}

tessera::cpu::CompileResult
tessera::cpu::compile(const std::string &source, const std::string &bufferName,
                      bool dumpStages) {
  CompileResult result;
  tessera::CompileSession session(source, bufferName, result.diagnostics);
  OwningOpRef<ModuleOp> module = session.parse();
  if (!module)
    return result;
  if (failed(session.runStages(*module, stages(), "CPU",
                               dumpStages ? &result.dumps : nullptr)))
    return result;
  llvm::raw_ostream &diagOS = session.diag();

  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext, "tessera_cpu_kernel");
  if (!llvmModule) {
    diagOS << "error: translation to LLVM IR failed\n";
    return result;
  }
  // Only the kernels' entry points are the object's interface: every other
  // definition (the kernel bodies, MLIR's helpers such as dealloc_helper)
  // becomes internal, so objects of several kernels link together (AOT
  // libraries) and LLVM may inline them.
  for (llvm::GlobalValue &g : llvmModule->global_values())
    if (!g.isDeclaration() && !g.getName().ends_with("__entry"))
      g.setLinkage(llvm::GlobalValue::InternalLinkage);
  std::string error;
  std::unique_ptr<llvm::TargetMachine> machine = hostMachine(error);
  if (!machine) {
    diagOS << "error: no target for the host: " << error << "\n";
    return result;
  }
  if (!tessera::optimizeForTarget(*llvmModule, *machine, diagOS,
                                  dumpStages ? &result.dumps : nullptr) ||
      !tessera::emitCode(*llvmModule, *machine, /*assembly=*/false,
                         result.object, diagOS))
    return result;
  result.ok = true;
  return result;
}
