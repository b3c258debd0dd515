// The router's stall watch, its pure part (libs/router/src/engine_parts.hpp, partitions_behind):
// which assigned partitions have records to read.
#include <gtest/gtest.h>

#include "engine_parts.hpp"

namespace {
using relais::router::detail::PartitionProgress;
using relais::router::detail::partitions_behind;

TEST(StallWatch, APartitionWhoseEndIsBeyondThePositionIsBehind) {
  EXPECT_EQ(partitions_behind({{3, 100, 90, 101}}), std::vector<std::int32_t>{3});
  EXPECT_TRUE(partitions_behind({{3, 100, 90, 100}}).empty());
}

TEST(StallWatch, WithoutAPositionTheCommittedOffsetSaysWhereReadingStarts) {
  // librdkafka has no position for a partition before its first record: a stalled fetcher
  // looks exactly like this, so the committed offset decides.
  EXPECT_EQ(partitions_behind({{1, -1001, 40, 55}}), std::vector<std::int32_t>{1});
  EXPECT_TRUE(partitions_behind({{1, -1001, 55, 55}}).empty());  // idle, nothing to read
}

TEST(StallWatch, APartitionWithNeitherOffsetKnownIsLeftOut) {
  EXPECT_TRUE(partitions_behind({{2, -1001, -1001, 500}}).empty());
}

TEST(StallWatch, AnUnknownEndIsNeverBehind) {
  EXPECT_TRUE(partitions_behind({{0, 10, 10, -1}}).empty());
}

TEST(StallWatch, ListsEveryPartitionBehindInOrder) {
  std::vector<PartitionProgress> parts{{0, 5, 5, 5}, {1, -1001, 7, 9}, {4, 20, 3, 21}, {5, 8, 8, 8}};
  EXPECT_EQ(partitions_behind(parts), (std::vector<std::int32_t>{1, 4}));
}
}  // namespace
