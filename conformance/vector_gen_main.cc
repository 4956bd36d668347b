// Writes the conformance vectors: vector_gen --out_dir=DIR
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "conformance/test_vector.h"
#include "conformance/vector_generator.h"

ABSL_FLAG(std::string, out_dir, "", "directory to write the *.json vector files to");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_out_dir);
  if (dir.empty()) {
    std::fprintf(stderr, "usage: vector_gen --out_dir=DIR\n");
    return 2;
  }
  for (const auto& [name, file] : lpframe::conformance::GenerateVectorFiles()) {
    const std::string path = dir + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << lpframe::conformance::VectorFileToJson(file);
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("wrote %s (%d vectors)\n", path.c_str(), file.vectors_size());
  }
  return 0;
}
