#include "onemap/core/calendar.hpp"

#include <gtest/gtest.h>

using onemap::core::parse_iso_date;

TEST(calendar, accepts_real_dates)
{
    EXPECT_EQ(parse_iso_date("2024-07-01").value_or(""), "2024-07-01");
    EXPECT_TRUE(parse_iso_date("2024-02-29"));
    EXPECT_TRUE(parse_iso_date("2000-02-29"));
}

TEST(calendar, rejects_what_is_not_a_date)
{
    EXPECT_FALSE(parse_iso_date("2023-02-29"));
    EXPECT_FALSE(parse_iso_date("1900-02-29"));
    EXPECT_FALSE(parse_iso_date("2024-13-01"));
    EXPECT_FALSE(parse_iso_date("2024-04-31"));
    EXPECT_FALSE(parse_iso_date("2024-7-1"));
    EXPECT_FALSE(parse_iso_date("20240701"));
    EXPECT_FALSE(parse_iso_date("2024-07-01'; DROP TABLE x; --"));
    EXPECT_FALSE(parse_iso_date(""));
}

TEST(calendar, today_is_a_date)
{
    EXPECT_TRUE(parse_iso_date(onemap::core::today()));
}
