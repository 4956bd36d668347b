// File: conformance/vector_generator.h
//
// Builds the conformance vectors checked in under conformance/vectors/.
// `bazel run //conformance:vector_gen -- --out_dir=$PWD/conformance/vectors`
// rewrites them; //conformance:vectors_fresh_test fails when the checked-in
// files differ from what this generator produces.
#ifndef LPFRAME_CONFORMANCE_VECTOR_GENERATOR_H_
#define LPFRAME_CONFORMANCE_VECTOR_GENERATOR_H_

#include <string>
#include <utility>
#include <vector>

#include "conformance/vector.pb.h"

namespace lpframe {
namespace conformance {

// (file name, contents) for every vector file, in kVectorFileNames order.
std::vector<std::pair<std::string, VectorFile>> GenerateVectorFiles();

}  // namespace conformance
}  // namespace lpframe

#endif  // LPFRAME_CONFORMANCE_VECTOR_GENERATOR_H_
