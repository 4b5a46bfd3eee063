// Analytics tables as CSV and XLSX (tileserver/analysis/tabular.hpp), read back by readers
// that are not ours: Python's csv module and openpyxl under Debian's /usr/bin/python3.
#include "onemap/core/error.hpp"
#include "onemap/tileserver/analysis/tabular.hpp"
#include "tempdb.hpp" // run_command

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>
#include <unistd.h>

using namespace onemap;
using namespace onemap::tileserver::analysis;

namespace {

// A path of the running test's own: ctest runs the cases in parallel, and several build
// trees may run them at the same time.
std::string own_path(const std::string& name)
{
    return ::testing::TempDir() + "onemap-tabular-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() +
           "-" + std::to_string(::getpid()) + "-" + name;
}

std::string write_file(const std::string& name, const std::string& bytes)
{
    std::string path = own_path(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

// Runs Debian's python on `script` (no single quotes in it) with `inputs`; the script writes
// JSON to its last argument, which is returned. The inputs are removed unless the test failed.
nlohmann::json python(const std::string& script, const std::vector<std::string>& inputs)
{
    const std::string out = own_path("read-back.json");
    std::string command = "/usr/bin/python3 -c '" + script + "'";
    for (const auto& input : inputs) {
        command += " " + input;
    }
    std::string output;
    EXPECT_EQ(test::run_command(command + " " + out, &output), 0) << output;
    std::ifstream in(out);
    nlohmann::json result = nlohmann::json::parse(in, nullptr, false);
    std::filesystem::remove(out);
    if (!::testing::Test::HasFailure()) {
        for (const auto& input : inputs) {
            std::filesystem::remove(input);
        }
    }
    if (result.is_discarded()) {
        ADD_FAILURE() << "no JSON from python: " << output;
        return nlohmann::json::array();
    }
    return result;
}

const char* READ_CSV = R"(
import csv, json, sys
with open(sys.argv[1], encoding="utf-8-sig", newline="") as f:
    rows = list(csv.reader(f))
json.dump(rows, open(sys.argv[-1], "w"))
)";

// Every workbook named on the command line: its sheets, each cell's type, value, number
// format and boldness, the frozen cell and the column widths.
const char* READ_XLSX = R"(
import json, sys, openpyxl
books = []
for path in sys.argv[1:-1]:
    sheets = []
    for ws in openpyxl.load_workbook(path).worksheets:
        rows = [[{"type": c.data_type, "value": c.value, "format": c.number_format, "bold": bool(c.font.b)}
                 for c in row] for row in ws.iter_rows()]
        widths = {k: d.width for k, d in ws.column_dimensions.items()}
        sheets.append({"name": ws.title, "freeze": ws.freeze_panes, "rows": rows, "widths": widths})
    books.append(sheets)
json.dump(books, open(sys.argv[-1], "w"))
)";

table land_use()
{
    return {"统计",
            {"名称", "面积(公顷)", "图斑数"},
            {{"驿城区,西园街道", 1234.567, 12}, {"说\"明\"\n第二行", -0.001, 0}, {"耕地", 1e20, cell(7)}}};
}

} // namespace

TEST(tabular, csv_bytes)
{
    const table t{"",
                  {"名称", "面积(公顷)", "备注"},
                  {{"驿城区,西园街道", 1234.5, "说\"明\"\n第二行"},
                   {"plain", -0.001, ""},
                   {cell(1e20, 0), cell(2.0 / 3, 4), 42},
                   {std::numeric_limits<double>::quiet_NaN(), -1.005, cell(-0.4, 0)},
                   {""}}};
    EXPECT_EQ(to_csv(t), "\xEF\xBB\xBF"
                         "名称,面积(公顷),备注\r\n"
                         "\"驿城区,西园街道\",1234.50,\"说\"\"明\"\"\n第二行\"\r\n"
                         "plain,0.00,\r\n"
                         "100000000000000000000,0.6667,42\r\n"
                         ",-1.00,0\r\n" // -1.005 is -1.00499999999999989… in binary
                         "\"\"\r\n");
}

TEST(tabular, csv_read_back_by_python)
{
    const std::string csv = to_csv(land_use());
    ASSERT_EQ(csv.substr(0, 3), "\xEF\xBB\xBF");
    const auto rows = python(READ_CSV, {write_file("land_use.csv", csv)});
    const nlohmann::json expected = {{"名称", "面积(公顷)", "图斑数"},
                                     {"驿城区,西园街道", "1234.57", "12"},
                                     {"说\"明\"\n第二行", "0.00", "0"},
                                     {"耕地", "100000000000000000000.00", "7"}};
    EXPECT_EQ(rows, expected);
}

TEST(tabular, xlsx_read_back_by_openpyxl)
{
    const table matrix{"变化矩阵", {"", "耕地", "林地"}, {{"耕地", cell(0.12345, 4), 3.5}, {"林地", 0.0, 1.25}}};
    const std::string path = write_file("workbook.xlsx", to_xlsx({land_use(), matrix}));
    const auto books = python(READ_XLSX, {path});
    ASSERT_EQ(books.size(), 1U) << books.dump();
    const auto& sheets = books[0];
    ASSERT_EQ(sheets.size(), 2U);
    EXPECT_EQ(sheets[0]["name"], "统计");
    EXPECT_EQ(sheets[1]["name"], "变化矩阵");

    const auto& rows = sheets[0]["rows"];
    ASSERT_EQ(rows.size(), 4U) << rows.dump();
    for (std::size_t col = 0; col < 3; ++col) {
        EXPECT_EQ(rows[0][col]["type"], "s");
        EXPECT_TRUE(rows[0][col]["bold"]);
    }
    EXPECT_EQ(rows[0][0]["value"], "名称");
    EXPECT_EQ(rows[0][1]["value"], "面积(公顷)");
    EXPECT_EQ(rows[0][2]["value"], "图斑数");
    EXPECT_EQ(rows[1][0]["value"], "驿城区,西园街道");
    EXPECT_EQ(rows[2][0]["value"], "说\"明\"\n第二行");
    EXPECT_EQ(rows[3][0]["value"], "耕地");
    EXPECT_FALSE(rows[1][0]["bold"]);

    const auto expect_number = [](const nlohmann::json& c, double value, const std::string& format) {
        EXPECT_EQ(c["type"], "n") << c.dump();
        ASSERT_TRUE(c["value"].is_number()) << c.dump();
        EXPECT_DOUBLE_EQ(c["value"].get<double>(), value);
        EXPECT_EQ(c["format"], format);
    };
    expect_number(rows[1][1], 1234.567, "0.00"); // the full value, shown with two digits
    expect_number(rows[1][2], 12, "0");
    expect_number(rows[2][1], 0, "0.00"); // -0.001 would show as "-0.00"
    expect_number(rows[3][1], 1e20, "0.00");
    expect_number(rows[3][2], 7, "0");
    EXPECT_EQ(sheets[0]["freeze"], "A2");
    // Seven Chinese characters and a comma are 15 columns wide (the default is 8.43).
    EXPECT_GE(sheets[0]["widths"]["A"].get<double>(), 15);

    const auto& cells = sheets[1]["rows"];
    ASSERT_EQ(cells.size(), 3U);
    EXPECT_EQ(cells[0][1]["value"], "耕地");
    EXPECT_EQ(cells[2][0]["value"], "林地");
    expect_number(cells[1][1], 0.12345, "0.0000");
    expect_number(cells[2][2], 1.25, "0.00");
}

TEST(tabular, xlsx_sheet_names_made_valid_and_unique)
{
    const std::string long_name = "驻马店市驿城区西园街道土地利用现状统计表二〇二三年度变更调查成果汇总"; // 34 characters
    std::vector<table> sheets;
    for (const char* name : {"a/b:c", "A/B:C", "", "History", "'quoted'", "x[1]*?\\", "统计", "统计"}) {
        sheets.push_back({name, {"n"}, {{1.0}}});
    }
    sheets.push_back({long_name, {}, {}});
    sheets.push_back({long_name, {}, {}});
    const auto books = python(READ_XLSX, {write_file("names.xlsx", to_xlsx(sheets))});
    ASSERT_EQ(books.size(), 1U);
    std::vector<std::string> names;
    for (const auto& sheet : books[0]) {
        names.push_back(sheet["name"]);
    }
    // The first 31 characters of the long name, then 27 and " (2)"; CJK characters are three
    // bytes each in UTF-8.
    constexpr std::size_t CJK = 3;
    const std::vector<std::string> expected{"a_b_c",    "A_B_C (2)", "Sheet3", "History (2)",
                                            "_quoted_", "x_1____",   "统计",   "统计 (2)",
                                            long_name.substr(0, 31 * CJK),
                                            long_name.substr(0, 27 * CJK) + " (2)"};
    EXPECT_EQ(names, expected);
}

TEST(tabular, xlsx_from_four_threads)
{
    constexpr int THREADS = 4;
    std::vector<std::string> workbooks(THREADS);
    std::vector<std::string> failures(THREADS);
    {
        std::vector<std::thread> threads;
        threads.reserve(THREADS);
        for (int i = 0; i < THREADS; ++i) {
            threads.emplace_back([i, &workbooks, &failures] {
                table t{"线程" + std::to_string(i), {"序号", "值"}, {}};
                for (int row = 0; row < 2000; ++row) {
                    t.rows.push_back({"第" + std::to_string(row) + "行", cell(i * 10000.0 + row, 1)});
                }
                try {
                    workbooks[i] = to_xlsx({t});
                } catch (const std::exception& e) {
                    failures[i] = e.what();
                }
            });
        }
        for (auto& thread : threads) {
            thread.join();
        }
    }
    std::vector<std::string> paths;
    for (int i = 0; i < THREADS; ++i) {
        EXPECT_EQ(failures[i], "") << "thread " << i;
        paths.push_back(write_file("thread" + std::to_string(i) + ".xlsx", workbooks[i]));
    }
    const auto books = python(READ_XLSX, paths);
    ASSERT_EQ(books.size(), static_cast<std::size_t>(THREADS)) << books.dump().substr(0, 1000);
    for (int i = 0; i < THREADS; ++i) {
        const auto& sheet = books[i][0];
        EXPECT_EQ(sheet["name"], "线程" + std::to_string(i));
        ASSERT_EQ(sheet["rows"].size(), 2001U);
        EXPECT_EQ(sheet["rows"][2000][0]["value"], "第1999行");
        EXPECT_DOUBLE_EQ(sheet["rows"][2000][1]["value"].get<double>(), i * 10000.0 + 1999);
    }
}

// libxlsxwriter's refusals are onemap::error, and neither they nor success leave a file behind.
TEST(tabular, xlsx_errors_throw_and_leave_no_files)
{
    const std::string dir = own_path("tmpdir");
    std::filesystem::create_directories(dir);
    const char* saved = std::getenv("TMPDIR");
    const std::string saved_tmpdir = saved != nullptr ? saved : "";
    ::setenv("TMPDIR", dir.c_str(), 1);

    try {
        to_xlsx({{"long", {"text"}, {{std::string(40000, 'x')}}}});
        ADD_FAILURE() << "a 40000-character cell was written";
    } catch (const error& e) {
        EXPECT_NE(std::string(e.what()).find("32,767"), std::string::npos) << e.what();
    }
    EXPECT_EQ(to_xlsx({land_use()}).substr(0, 2), "PK");
    EXPECT_TRUE(std::filesystem::is_empty(dir));

    ::setenv("TMPDIR", (dir + "/absent").c_str(), 1);
    EXPECT_THROW(to_xlsx({land_use()}), error);

    if (saved != nullptr) {
        ::setenv("TMPDIR", saved_tmpdir.c_str(), 1);
    } else {
        ::unsetenv("TMPDIR");
    }
    std::filesystem::remove_all(dir);
}
