//===- TGraphDialect.cpp - The tgraph dialect -----------------------------===//

#include "dialects/tgraph/TGraphDialect.h"

#include "dialects/tile/TileDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/StringExtras.h"

#include <cmath>
#include <map>

using namespace mlir;
using namespace tessera::tgraph;

#include "dialects/tgraph/TGraphDialect.cpp.inc"

void TGraphDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/tgraph/TGraphOps.cpp.inc"
      >();
}

bool tessera::tgraph::parseContractSpec(StringRef spec, SmallVectorImpl<std::string> &inputs,
                                        std::string &output, std::string &error) {
  auto [lhs, rhs] = spec.split("->");
  if (lhs.size() == spec.size()) {
    error = "has no '->' before the result's indices";
    return false;
  }
  SmallVector<StringRef> parts;
  lhs.split(parts, ',');
  auto check = [&](StringRef s, const std::string &what) {
    for (char c : s)
      if (c < 'a' || c > 'z') {
        error = what + " '" + s.str() + "' has '" + std::string(1, c) +
                "': indices are lowercase letters";
        return false;
      }
    for (size_t i = 0; i < s.size(); ++i)
      if (s.find(s[i], i + 1) != StringRef::npos) {
        error = what + " '" + s.str() + "' repeats '" + std::string(1, s[i]) + "'";
        return false;
      }
    return true;
  };
  inputs.clear();
  for (StringRef p : parts) {
    if (!check(p, "operand"))
      return false;
    inputs.push_back(p.str());
  }
  if (!check(rhs, "result"))
    return false;
  output = rhs.str();
  for (char c : output)
    if (llvm::none_of(inputs, [&](const std::string &in) { return in.find(c) != std::string::npos; })) {
      error = "result index '" + std::string(1, c) + "' is in no operand";
      return false;
    }
  return true;
}

SmallVector<std::string> ContractOp::getInputIndices() {
  SmallVector<std::string> inputs;
  std::string output, error;
  (void)parseContractSpec(getSpec(), inputs, output, error);
  return inputs;
}

std::string ContractOp::getOutputIndices() {
  SmallVector<std::string> inputs;
  std::string output, error;
  (void)parseContractSpec(getSpec(), inputs, output, error);
  return output;
}

bool ContractOp::isWeight(unsigned i) {
  auto weights = getWeights();
  return weights && i < weights->size() && (*weights)[i];
}

LogicalResult ContractOp::verify() {
  SmallVector<std::string> inputs;
  std::string output, error;
  if (!parseContractSpec(getSpec(), inputs, output, error))
    return emitOpError() << "spec \"" << getSpec() << "\" " << error;
  if (inputs.size() != getOperands().size())
    return emitOpError() << "spec names " << inputs.size() << " operands, the op has "
                         << getOperands().size();
  if (inputs.size() < 2)
    return emitOpError() << "contracts at least two operands";
  if (auto weights = getWeights(); weights && weights->size() != inputs.size())
    return emitOpError() << "weights has " << weights->size() << " entries for "
                         << inputs.size() << " operands";
  // One size per letter; dynamic sizes agree with anything.
  std::map<char, int64_t> sizes;
  Type elem;
  auto visit = [&](RankedTensorType t, const std::string &idx, StringRef what) -> LogicalResult {
    if (t.getRank() != int64_t(idx.size()))
      return emitOpError() << what << " has rank " << t.getRank() << " but \"" << idx << "\" names "
                           << idx.size() << " dimensions";
    if (elem && t.getElementType() != elem)
      return emitOpError() << "operands and result must share one element type, got " << elem
                           << " and " << t.getElementType();
    elem = t.getElementType();
    if (!isa<FloatType>(elem))
      return emitOpError() << "contracts floating-point tensors, got " << elem;
    for (size_t d = 0; d < idx.size(); ++d) {
      int64_t size = t.getDimSize(d);
      if (ShapedType::isDynamic(size))
        continue;
      auto [it, inserted] = sizes.emplace(idx[d], size);
      if (!inserted && it->second != size)
        return emitOpError() << "index '" << idx[d] << "' has size " << it->second << " and "
                             << size;
    }
    return success();
  };
  for (auto [i, operand] : llvm::enumerate(getOperands()))
    if (failed(visit(cast<RankedTensorType>(operand.getType()), inputs[i],
                     "operand #" + std::to_string(i))))
      return failure();
  return visit(getResult().getType(), output, "the result");
}

//===----------------------------------------------------------------------===//
// Attention and BSA selection
//===----------------------------------------------------------------------===//

static bool isBlockSize(int64_t b) { return b >= 16 && b <= 256 && (b & (b - 1)) == 0; }

static int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Checks a (Z, H, tokens, D) tensor; sets the sizes.
static LogicalResult checkTokens(Operation *op, Value v, StringRef name, int64_t &z, int64_t &h,
                                 int64_t &n, int64_t &d) {
  auto t = cast<RankedTensorType>(v.getType());
  if (t.getRank() != 4)
    return op->emitOpError() << name << " must be (batch, heads, tokens, head_dim), got " << t;
  if (!isa<FloatType>(t.getElementType()))
    return op->emitOpError() << name << " must hold floats, got " << t.getElementType();
  z = t.getDimSize(0), h = t.getDimSize(1), n = t.getDimSize(2), d = t.getDimSize(3);
  return success();
}

/// Checks index lists (Z, H, blocks, L) of i32 and counts (Z, H, blocks).
static LogicalResult checkLists(Operation *op, Value index, Value count, StringRef what,
                                int64_t z, int64_t h, int64_t blocks) {
  auto it = cast<RankedTensorType>(index.getType());
  auto ct = cast<RankedTensorType>(count.getType());
  auto sameOrDynamic = [](int64_t a, int64_t b) {
    return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
  };
  if (!it.getElementType().isInteger(32) || !ct.getElementType().isInteger(32))
    return op->emitOpError() << what << " lists and counts are i32, got " << it << " and " << ct;
  if (it.getRank() != 4 || !sameOrDynamic(it.getDimSize(0), z) ||
      !sameOrDynamic(it.getDimSize(1), h) || !sameOrDynamic(it.getDimSize(2), blocks))
    return op->emitOpError() << what << " lists must be (" << z << ", " << h << ", " << blocks
                             << ", L), got " << it;
  if (ct.getRank() != 3 || !sameOrDynamic(ct.getDimSize(0), z) ||
      !sameOrDynamic(ct.getDimSize(1), h) || !sameOrDynamic(ct.getDimSize(2), blocks))
    return op->emitOpError() << what << " counts must be (" << z << ", " << h << ", " << blocks
                             << "), got " << ct;
  return success();
}

/// What tgraph.attention and tgraph.attention_grad share: q, k, v of one
/// element type, (Z, H, N, D) and (Z, H, Nkv, D); the head dim, blocks and
/// scale supported; the kv lists' shapes. `z`, `h` and the query blocks are
/// returned for the op's own checks.
template <typename Op>
static LogicalResult checkAttention(Op op, int64_t &z, int64_t &h, int64_t &blocks) {
  int64_t n, d, zk, hk, nk, dk, zv, hv, nv, dv;
  if (failed(checkTokens(op, op.getQ(), "q", z, h, n, d)) ||
      failed(checkTokens(op, op.getK(), "k", zk, hk, nk, dk)) ||
      failed(checkTokens(op, op.getV(), "v", zv, hv, nv, dv)))
    return failure();
  auto q = cast<RankedTensorType>(op.getQ().getType());
  if (op.getK().getType() != op.getV().getType() || zk != z || hk != h || dk != d)
    return op.emitOpError() << "k and v must both be (" << z << ", " << h << ", kv tokens, "
                            << d << ") like q, got " << op.getK().getType() << " and "
                            << op.getV().getType();
  if (cast<RankedTensorType>(op.getK().getType()).getElementType() != q.getElementType())
    return op.emitOpError() << "q, k and v must share an element type";
  if (!ShapedType::isDynamic(d) && !isBlockSize(d))
    return op.emitOpError() << "head dim " << d
                            << " is not supported (16 to 256, a power of two)";
  if (!isBlockSize(op.getBlockM()) || !isBlockSize(op.getBlockN()))
    return op.emitOpError() << "block sizes are powers of two from 16 to 256, got "
                            << op.getBlockM() << " and " << op.getBlockN();
  if (auto scale = op.getScale(); scale && !(scale->convertToFloat() > 0))
    return op.emitOpError() << "scale must be positive";
  blocks = ShapedType::isDynamic(n) ? ShapedType::kDynamic : ceilDiv(n, op.getBlockM());
  if (op.getKvIndex() &&
      failed(checkLists(op, op.getKvIndex(), op.getKvCount(), "kv", z, h, blocks)))
    return failure();
  return success();
}

/// A row statistic of q's rows (the log-sum-exp): f32, (Z, H, Nq).
template <typename Op>
static LogicalResult checkRowStats(Op op, Value v, StringRef what) {
  auto q = cast<RankedTensorType>(op.getQ().getType());
  auto t = cast<RankedTensorType>(v.getType());
  auto same = [](int64_t a, int64_t b) {
    return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
  };
  if (t.getRank() != 3 || !t.getElementType().isF32() || !same(t.getDimSize(0), q.getDimSize(0)) ||
      !same(t.getDimSize(1), q.getDimSize(1)) || !same(t.getDimSize(2), q.getDimSize(2)))
    return op.emitOpError() << what << " must be f32 (Z, H, Nq) like q's rows " << q
                            << ", one value per query row; got " << t;
  return success();
}

LogicalResult AttentionOp::verify() {
  int64_t z, h, blocks;
  if (failed(checkAttention(*this, z, h, blocks)))
    return failure();
  if (getResult().getType() != getQ().getType())
    return emitOpError() << "the result must have q's type " << getQ().getType() << ", got "
                         << getResult().getType();
  if (getQIndex() && failed(checkLists(*this, getQIndex(), getQCount(), "query", z, h, blocks)))
    return failure();
  if (getLse()) {
    if (getQIndex())
      return emitOpError() << "returns no lse with query lists (pruned rows have none)";
    if (failed(checkRowStats(*this, getLse(), "lse")))
      return failure();
  }
  return success();
}

LogicalResult AttentionGradOp::verify() {
  int64_t z, h, blocks;
  if (failed(checkAttention(*this, z, h, blocks)))
    return failure();
  Type q = getQ().getType();
  if (getO().getType() != q || getDO().getType() != q)
    return emitOpError() << "o and do must have q's type " << q << ", got " << getO().getType()
                         << " and " << getDO().getType();
  if (getDq().getType() != q || getDk().getType() != getK().getType() ||
      getDv().getType() != getV().getType())
    return emitOpError() << "the results dq, dk, dv must have the types of q, k and v";
  if (getLse() && failed(checkRowStats(*this, getLse(), "lse")))
    return failure();
  return success();
}

LogicalResult LaunchOp::verify() {
  if (getGrid().size() != 3 || llvm::any_of(getGrid(), [](int64_t g) { return g < 1; }))
    return emitOpError() << "grid must be three positive sizes (x, y, z)";
  if (auto zeroed = getZeroed()) {
    llvm::SmallDenseSet<int64_t> seen;
    for (int64_t i : *zeroed)
      if (i < 0 || i >= int64_t(getNumResults()) || !seen.insert(i).second)
        return emitOpError() << "zeroed names results by index, each once (0 to "
                             << int64_t(getNumResults()) - 1 << "), got " << i;
  }
  return success();
}

LogicalResult LaunchOp::verifySymbolUses(SymbolTableCollection &symbols) {
  auto kernel = symbols.lookupNearestSymbolFrom<func::FuncOp>(*this, getKernelAttr());
  if (!kernel)
    return emitOpError() << "kernel " << getKernelAttr() << " is not a function of the module";
  SmallVector<Type> tensors(getArgs().getTypes());
  llvm::append_range(tensors, getResults().getTypes());
  if (kernel.getNumArguments() != tensors.size())
    return emitOpError() << "kernel " << getKernelAttr() << " takes " << kernel.getNumArguments()
                         << " pointers, the launch passes " << tensors.size()
                         << " tensors (the arguments and the results)";
  for (auto [i, pair] : llvm::enumerate(llvm::zip(kernel.getArgumentTypes(), tensors))) {
    auto [param, tensor] = pair;
    auto ptr = dyn_cast<tessera::tile::PointerType>(param);
    Type elem = cast<RankedTensorType>(tensor).getElementType();
    if (!ptr || tessera::tile::getPointeeType(ptr) != elem)
      return emitOpError() << "kernel parameter " << i << " is " << param
                           << ", the launch passes the elements of " << tensor;
  }
  return success();
}

LogicalResult BlockSelectOp::verify() {
  int64_t z, h, n, d, zk, hk, nk, dk;
  if (failed(checkTokens(*this, getQ(), "q", z, h, n, d)) ||
      failed(checkTokens(*this, getK(), "k", zk, hk, nk, dk)))
    return failure();
  if (zk != z || hk != h || dk != d)
    return emitOpError() << "k must be (" << z << ", " << h << ", kv tokens, " << d << ") like q";
  if (!isBlockSize(getBlockM()) || !isBlockSize(getBlockN()))
    return emitOpError() << "block sizes are powers of two from 16 to 256, got " << getBlockM()
                         << " and " << getBlockN();
  if (bool(getMass()) == bool(getThreshold()))
    return emitOpError() << "takes exactly one of mass (top-p) and threshold (mean + k std)";
  if (auto p = getMass(); p && !(p->convertToFloat() > 0 && p->convertToFloat() <= 1))
    return emitOpError() << "mass must be in (0, 1], got " << p->convertToFloat();
  int64_t blocks = ShapedType::isDynamic(n) ? ShapedType::kDynamic : ceilDiv(n, getBlockM());
  if (failed(checkLists(*this, getIndex(), getCount(), "selected", z, h, blocks)))
    return failure();
  int64_t l = cast<RankedTensorType>(getIndex().getType()).getDimSize(3);
  if (getMinBlocks() < 1 || (!ShapedType::isDynamic(l) && getMinBlocks() > l))
    return emitOpError() << "min_blocks must be from 1 to the lists' length " << l << ", got "
                         << getMinBlocks();
  if (!ShapedType::isDynamic(nk) && !ShapedType::isDynamic(l) && l > ceilDiv(nk, getBlockN()))
    return emitOpError() << "lists of " << l << " blocks, but k has only "
                         << ceilDiv(nk, getBlockN());
  return success();
}

LogicalResult TokenSelectOp::verify() {
  int64_t z, h, n, d;
  if (failed(checkTokens(*this, getQ(), "q", z, h, n, d)))
    return failure();
  if (!isBlockSize(getBlock()))
    return emitOpError() << "block is a power of two from 16 to 256, got " << getBlock();
  float ratio = getKeepRatio().convertToFloat();
  if (!(ratio > 0 && ratio <= 1))
    return emitOpError() << "keep_ratio must be in (0, 1], got " << ratio;
  int64_t blocks = ShapedType::isDynamic(n) ? ShapedType::kDynamic : ceilDiv(n, getBlock());
  if (failed(checkLists(*this, getIndex(), getCount(), "kept query", z, h, blocks)))
    return failure();
  int64_t k = cast<RankedTensorType>(getIndex().getType()).getDimSize(3);
  int64_t keep = int64_t(std::ceil(double(ratio) * double(getBlock())));
  if (!ShapedType::isDynamic(k) && k != keep)
    return emitOpError() << "keeps ceil(keep_ratio x " << getBlock() << ") = " << keep
                         << " queries per block, the lists hold " << k;
  return success();
}

LogicalResult CubeReorderOp::verify() {
  auto t = cast<RankedTensorType>(getX().getType());
  if (t.getRank() != 3)
    return emitOpError() << "x must be (batch, tokens, channels), got " << t;
  if (getResult().getType() != t)
    return emitOpError() << "the result must have x's type";
  ArrayRef<int64_t> video = getVideo(), cube = getCube();
  if (video.size() != 3 || cube.size() != 3)
    return emitOpError() << "video and cube are (t, h, w) sizes";
  for (int i = 0; i < 3; ++i) {
    if (video[i] < 1 || cube[i] < 1)
      return emitOpError() << "video and cube sizes must be positive";
    if (video[i] % cube[i])
      return emitOpError() << "video dimension " << i << " (" << video[i]
                           << ") is not a multiple of the cube's (" << cube[i] << ")";
  }
  int64_t tokens = video[0] * video[1] * video[2];
  if (!ShapedType::isDynamic(t.getDimSize(1)) && t.getDimSize(1) != tokens)
    return emitOpError() << "x has " << t.getDimSize(1) << " tokens, the video "
                         << video[0] << "x" << video[1] << "x" << video[2] << " has " << tokens;
  return success();
}

#define GET_OP_CLASSES
#include "dialects/tgraph/TGraphOps.cpp.inc"
