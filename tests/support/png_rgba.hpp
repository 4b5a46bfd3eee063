#pragma once
// A PNG decoded by GDAL (libpng), not by onemap, into a dataset of straight RGB(A) bands: a
// palette PNG is expanded through its colour table, so tests read colours whatever the type.
#include <cpl_vsi.h>
#include <gdal_priv.h>
#include <gdal_utils.h>

#include <string>
#include <unistd.h>

namespace onemap::test {

inline GDALDatasetUniquePtr open_png_rgba(const std::string& png)
{
    GDALAllRegister();
    const std::string path = "/vsimem/onemap_png_" + std::to_string(::getpid()) + ".png";
    VSIFCloseL(VSIFileFromMemBuffer(path.c_str(), reinterpret_cast<GByte*>(const_cast<char*>(png.data())), png.size(),
                                    FALSE));
    GDALDatasetUniquePtr out;
    {
        GDALDatasetUniquePtr ds(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
        if (ds) {
            const bool indexed = ds->GetRasterCount() == 1 && ds->GetRasterBand(1)->GetColorTable() != nullptr;
            char mem[] = "MEM";
            char of[] = "-of";
            char expand[] = "-expand";
            char rgba[] = "rgba";
            char* args[] = {of, mem, expand, rgba, nullptr};
            if (!indexed) {
                args[2] = nullptr;
            }
            GDALTranslateOptions* options = GDALTranslateOptionsNew(args, nullptr);
            out.reset(GDALDataset::FromHandle(GDALTranslate("", GDALDataset::ToHandle(ds.get()), options, nullptr)));
            GDALTranslateOptionsFree(options);
        }
    }
    VSIUnlink(path.c_str());
    return out;
}

} // namespace onemap::test
