//===- AtomicLowering.h - tile atomics as LLVM atomics ----------*- C++ -*-===//
//
// The mapping both backends use from tile atomics to llvm.atomicrmw and
// llvm.cmpxchg.
//
//===----------------------------------------------------------------------===//

#ifndef TESSERA_PASSES_ATOMICLOWERING_H
#define TESSERA_PASSES_ATOMICLOWERING_H

#include "dialects/tile/TileDialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace tessera {

inline mlir::LLVM::AtomicOrdering llvmOrdering(tile::MemSemantic sem) {
  using mlir::LLVM::AtomicOrdering;
  switch (sem) {
  case tile::MemSemantic::Relaxed:
    return AtomicOrdering::monotonic;
  case tile::MemSemantic::Acquire:
    return AtomicOrdering::acquire;
  case tile::MemSemantic::Release:
    return AtomicOrdering::release;
  case tile::MemSemantic::AcqRel:
    return AtomicOrdering::acq_rel;
  }
  llvm_unreachable("unknown memory semantic");
}

/// A failed compare-and-swap only reads: its ordering may not release.
inline mlir::LLVM::AtomicOrdering
casFailureOrdering(mlir::LLVM::AtomicOrdering success) {
  using mlir::LLVM::AtomicOrdering;
  if (success == AtomicOrdering::release)
    return AtomicOrdering::monotonic;
  if (success == AtomicOrdering::acq_rel)
    return AtomicOrdering::acquire;
  return success;
}

inline mlir::LLVM::AtomicBinOp llvmBinOp(tile::RMWKind kind, bool isFloat) {
  using mlir::LLVM::AtomicBinOp;
  switch (kind) {
  case tile::RMWKind::Add:
    return AtomicBinOp::add;
  case tile::RMWKind::FAdd:
    return AtomicBinOp::fadd;
  case tile::RMWKind::Max:
    return isFloat ? AtomicBinOp::fmax : AtomicBinOp::max;
  case tile::RMWKind::Min:
    return isFloat ? AtomicBinOp::fmin : AtomicBinOp::min;
  case tile::RMWKind::UMax:
    return AtomicBinOp::umax;
  case tile::RMWKind::UMin:
    return AtomicBinOp::umin;
  case tile::RMWKind::And:
    return AtomicBinOp::_and;
  case tile::RMWKind::Or:
    return AtomicBinOp::_or;
  case tile::RMWKind::Xor:
    return AtomicBinOp::_xor;
  case tile::RMWKind::Xchg:
    return AtomicBinOp::xchg;
  }
  llvm_unreachable("unknown atomic kind");
}

} // namespace tessera

#endif // TESSERA_PASSES_ATOMICLOWERING_H
