// The stall watch of a group consumer, its pure part (relais/kafka/stall.hpp,
// partitions_behind): which assigned partitions have records to read.
#include <gtest/gtest.h>

#include "relais/kafka/stall.hpp"

namespace {
using relais::kafka::PartitionProgress;
using relais::kafka::partitions_behind;
using relais::kafka::TopicPartition;
using relais::kafka::TopicPartitions;

TEST(StallWatch, APartitionWhoseEndIsBeyondThePositionIsBehind) {
  EXPECT_EQ(partitions_behind({{"in", 3, 100, 90, 101}}), (TopicPartitions{{"in", 3, 100}}));
  EXPECT_TRUE(partitions_behind({{"in", 3, 100, 90, 100}}).empty());
}

TEST(StallWatch, WithoutAPositionTheCommittedOffsetSaysWhereReadingStarts) {
  // librdkafka has no position for a partition before its first record: a stalled fetcher
  // looks exactly like this, so the committed offset decides.
  EXPECT_EQ(partitions_behind({{"in", 1, -1001, 40, 55}}), (TopicPartitions{{"in", 1, 40}}));
  EXPECT_TRUE(partitions_behind({{"in", 1, -1001, 55, 55}}).empty());  // idle, nothing to read
}

TEST(StallWatch, APartitionWithNeitherOffsetKnownIsLeftOut) {
  EXPECT_TRUE(partitions_behind({{"in", 2, -1001, -1001, 500}}).empty());
}

TEST(StallWatch, AnUnknownEndIsNeverBehind) {
  EXPECT_TRUE(partitions_behind({{"in", 0, 10, 10, -1}}).empty());
}

TEST(StallWatch, ListsEveryPartitionBehindInOrderWithItsTopic) {
  std::vector<PartitionProgress> parts{
      {"a", 0, 5, 5, 5}, {"a", 1, -1001, 7, 9}, {"b", 4, 20, 3, 21}, {"b", 5, 8, 8, 8}};
  EXPECT_EQ(partitions_behind(parts), (TopicPartitions{{"a", 1, 7}, {"b", 4, 20}}));
}
}  // namespace
