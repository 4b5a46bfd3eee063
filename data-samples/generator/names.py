"""Fictional but typical Henan place names. Only the ten county names and the main rivers and
reservoirs are real; town, village, community and small-river names are composed here and any
match with a real place is a coincidence."""

SURNAMES = list(
    '王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡'
    '贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段'
    '雷钱汤尹黎易常武乔贺赖龚文庞樊兰殷施陶翟安倪严牛温芦季俞章鲁葛伍韦申尤毕聂焦向柳邢骆岳')
VILLAGE_SUFFIX = list('庄营集店寨楼湾岗桥洼园寺铺坡岭台屯圩堂沟庙井口湖港郢')
TOWN_SUFFIX = ['集', '店', '庄', '桥', '铺', '寨', '岗', '埠', '河', '楼', '湖', '营', '台', '坡', '口']
TOWN_PREFIX = ['东', '西', '南', '北', '大', '小', '老', '新', '高', '双', '三', '五', '七', '金', '石', '黄',
               '青', '白', '长', '古', '杨', '花', '朱', '蔡', '和', '韩', '邵', '刘', '李', '孙', '顾', '常']
STREET_WORDS = ['东风', '西园', '新华', '南海', '雪松', '人民', '顺河', '橡林', '老街', '解放', '文化', '建设',
                '朝阳', '和平', '光明', '胜利', '团结', '前进']
COMMUNITY_WORDS = ['光明', '幸福', '和谐', '朝阳', '建设', '文化', '育才', '团结', '解放', '胜利', '新华', '人民',
                   '友谊', '民主', '振兴', '繁荣', '花园', '滨河', '春华', '秋实', '锦绣', '金桥', '银河', '翠竹',
                   '青松', '康宁', '安居', '永兴', '兴隆', '丰收', '富强', '健康', '平安', '长青', '红旗', '东方']
COMMUNITY_SUFFIX = ['', '路', '街', '苑', '里', '园']
STREAM_SUFFIX = ['河', '沟', '港', '渠']


class NamePool:
    """Hands out unique names deterministically from a seeded stream."""

    def __init__(self, rng):
        self.rng = rng
        self.used = set()

    def _pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def _unique(self, make):
        for _ in range(10000):
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name
        # Only reached for benchmark-sized hierarchies (--grids): number the repeats.
        base = make()
        for k in range(2, 1000000):
            name = '%s%d' % (base, k)
            if name not in self.used:
                self.used.add(name)
                return name
        raise RuntimeError('name pool exhausted')

    def town(self, kind):
        if kind == '街道':
            return self._unique(lambda: self._pick(STREET_WORDS) + '街道')
        return self._unique(lambda: (self._pick(SURNAMES) if self.rng.random() < 0.6 else self._pick(TOWN_PREFIX))
                            + self._pick(TOWN_SUFFIX) + kind)

    def village(self):
        return self._unique(lambda: self._pick(SURNAMES) + self._pick(VILLAGE_SUFFIX) + '村')

    def community(self):
        return self._unique(lambda: self._pick(COMMUNITY_WORDS) + self._pick(COMMUNITY_SUFFIX) + '社区')

    def stream(self):
        return self._unique(lambda: self._pick(SURNAMES) + self._pick(['庄', '岗', '湾', '店', '']) + self._pick(STREAM_SUFFIX))

    def reservoir(self):
        return self._unique(lambda: self._pick(SURNAMES) + self._pick(['庄', '湾', '岗', '沟', '店']) + '水库')
