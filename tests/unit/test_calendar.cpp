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

TEST(calendar, an_instant_with_an_impossible_time_is_not_a_date)
{
    using onemap::core::parse_date_or_instant;
    EXPECT_EQ(parse_date_or_instant("2024-01-01").value_or(""), "2024-01-01");
    EXPECT_EQ(parse_date_or_instant("2024-01-01T12:30:00Z").value_or(""), "2024-01-01");
    EXPECT_EQ(parse_date_or_instant("2024-01-01t23:59:60.123z").value_or(""), "2024-01-01");
    EXPECT_EQ(parse_date_or_instant("2024-01-01T00:00:00+08:00").value_or(""), "2024-01-01");
    EXPECT_EQ(parse_date_or_instant("2024-01-01T00:00:00-23:59").value_or(""), "2024-01-01");
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T25:00:00Z"));
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T23:60:00Z"));
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T23:00:61Z"));
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T12:00:00"));     // no offset
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T12:00:00+8:00")); // offset hh:mm
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T12:00:00+24:00"));
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T12:00:00.Z"));
    EXPECT_FALSE(parse_date_or_instant("2024-01-01T12:00:00Zjunk"));
    EXPECT_FALSE(parse_date_or_instant("2023-06-30T"));
    EXPECT_FALSE(parse_date_or_instant("2023-06-30Tanything"));
    EXPECT_FALSE(parse_date_or_instant("2023-06-30 12:00:00Z"));
    EXPECT_FALSE(parse_date_or_instant("2023-02-29T12:00:00Z"));
    EXPECT_FALSE(parse_date_or_instant(""));
}
