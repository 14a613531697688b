//===- TGraphDialect.cpp - The tgraph dialect -----------------------------===//

#include "dialects/tgraph/TGraphDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/StringExtras.h"

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

#define GET_OP_CLASSES
#include "dialects/tgraph/TGraphOps.cpp.inc"
