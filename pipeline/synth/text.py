"""MEPAVE-style product sentences for the synthetic world.

A MEPAVE line holds one short Chinese clause with attribute values wrapped as
``<属性>value</属性>``. This module writes such clauses for a product from its true values:

* Text slots (material, season, style, ...) come with *cue* words that correlate with the
  value (网布 with 透气散热, 冬季 with 抵御严寒, ...), so a text model can recover a masked
  text value from its context. The cue is right 80% of the time, absent 12%, and another
  value's cue 8%, so text recovery is good but not perfect.
* Visual slots (the nine of :data:`pipeline.synth.draw.VISUAL_SLOTS`) are written only through
  value-independent templates: the context is drawn the same way whatever the value, so only
  the image can tell a masked visual value.
* Product-type words (连衣裙, 裤子, 板鞋, 马丁靴, ...) let a keyword rule find the category;
  they appear in the first (title-style) sentence of every product. No other fixed string of
  this module contains a category keyword of another category (the tests check this).
* Sometimes a synonym variant is written instead of the canonical value (大红色 for 红色), and a
  few sentences name two colours of one product (main colour and trim / sole colour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from pipeline.schema import Schema

# ---- vocabulary ----------------------------------------------------------------------------

#: Product-type words per category. Chosen so that none names a slot value (长裙 and 短裤 are
#: values, so they are not used as product words).
PRODUCT_WORDS: dict[str, tuple[str, ...]] = {
    "Clothes": ("T恤", "卫衣", "外套", "衬衫", "毛衣", "上衣", "夹克", "针织衫"),
    "Dresses": ("连衣裙", "裙子", "半身裙", "裙装"),
    "Pants": ("裤子", "休闲裤", "西裤", "裤装"),
    "Shoes": ("板鞋", "单鞋", "运动鞋", "鞋子", "球鞋"),
    "Boots": ("靴子", "马丁靴", "靴"),
}
#: Products of no category (set aside by the pipeline).
OTHER_PRODUCT_WORDS = ("单肩包", "双肩包", "手提包", "斜挎包")

#: The "part" a material / thickness is said of, per category.
PART_WORDS: dict[str, tuple[str, ...]] = {
    "Clothes": ("面料", "衣身"),
    "Dresses": ("面料", "裙身"),
    "Pants": ("面料", "裤身"),
    "Shoes": ("鞋面", "鞋身"),
    "Boots": ("靴面", "靴身"),
}

#: Text-slot values a product of each category can have (default: the whole vocabulary).
TEXT_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "Clothes": {"material": ("棉", "真丝", "羊毛", "羊绒", "牛仔", "涤纶", "雪纺", "针织", "毛呢", "麻",
                             "灯芯绒", "蕾丝")},
    "Dresses": {"material": ("棉", "真丝", "雪纺", "涤纶", "蕾丝", "麻", "针织", "毛呢")},
    "Pants": {"material": ("棉", "牛仔", "涤纶", "麻", "灯芯绒", "针织", "羊毛")},
    "Shoes": {"material": ("真皮", "牛皮", "羊皮", "帆布", "网布", "皮革", "织物", "针织")},
    "Boots": {"material": ("真皮", "牛皮", "羊皮", "皮革", "毛呢")},
}

#: Value -> cue phrases. A cue belongs to one value of its slot only.
CUES: dict[str, dict[str, tuple[str, ...]]] = {
    "pattern": {
        "纯色": ("简洁大方", "干净利落"), "条纹": ("线条感十足", "经典横纹"),
        "格子": ("英伦格调", "方格交错"), "印花": ("图案生动", "满版图案"),
        "碎花": ("田园气息", "小清新"), "刺绣": ("针脚细密", "精致绣工"),
        "字母": ("英文元素", "潮流标语"), "撞色": ("色彩对比鲜明", "视觉冲击"),
        "波点": ("俏皮灵动", "圆点跳跃"), "迷彩": ("军旅气息", "野性十足"),
        "拼色": ("色块组合", "多色相间"), "卡通": ("童趣可爱", "萌趣形象"),
    },
    "material": {
        "棉": ("亲肤吸汗", "柔软亲肤"), "真丝": ("光泽顺滑", "丝滑垂坠"),
        "羊毛": ("温暖蓬松", "保暖性好"), "羊绒": ("细腻柔软", "轻暖细腻"),
        "牛仔": ("耐磨挺括", "经典靛蓝"), "涤纶": ("不易起皱", "易洗快干"),
        "雪纺": ("轻盈飘逸", "轻薄垂顺"), "真皮": ("质感高级", "天然纹理"),
        "牛皮": ("坚韧耐穿", "厚实耐磨"), "羊皮": ("柔软贴脚", "细腻柔韧"),
        "帆布": ("结实耐用", "粗犷质朴"), "网布": ("透气散热", "网眼透气"),
        "针织": ("柔软有弹力", "舒适贴合"), "毛呢": ("挺括有型", "厚实垂感"),
        "麻": ("凉爽透气", "自然肌理"), "灯芯绒": ("立体纹理", "复古绒条"),
        "皮革": ("防水易打理", "光亮易擦"), "蕾丝": ("精致浪漫", "若隐若现的花纹"),
        "织物": ("轻便舒适", "柔软轻巧"),
    },
    "style": {
        "休闲": ("日常出街", "轻松随性"), "复古": ("怀旧韵味", "年代感"),
        "简约": ("线条简洁", "少即是多"), "甜美": ("少女心满满", "可爱动人"),
        "通勤": ("职场上班", "办公室"), "学院风": ("青春校园", "书卷气"),
        "英伦风": ("绅士格调", "伦敦街头"), "运动": ("活力十足", "健身跑步"),
        "街头": ("潮酷个性", "嘻哈范儿"), "优雅": ("知性气质", "端庄大气"),
        "韩版": ("韩系时尚", "首尔潮流"), "商务": ("正式场合", "会议洽谈"),
    },
    "fit": {
        "宽松": ("不拘束", "随性自在"), "修身": ("勾勒身形", "贴合曲线"),
        "直筒": ("利落笔直", "线条流畅"), "A字": ("遮胯遮肉", "下摆散开"),
        "紧身": ("紧紧贴合", "紧贴身体"), "廓形": ("立体有型", "时髦大廓"),
    },
    "craft": {
        "褶皱": ("层次丰富", "自然垂褶"), "拼接": ("不同材质结合", "拼合巧妙"),
        "镂空": ("透出肌肤", "通透别致"), "水洗": ("做旧质感", "柔化处理"),
        "破洞": ("个性潮流", "不羁态度"), "压褶": ("规整纹路", "细密折痕"),
        "绣花": ("精美图样", "花朵点缀"), "印染": ("色彩鲜艳", "渐变晕染"),
        "磨毛": ("手感温暖", "绒感细腻"),
    },
    "season": {
        "春季": ("春暖花开", "春日出游"), "夏季": ("炎炎夏日", "清凉一夏"),
        "秋季": ("金秋时节", "秋风瑟瑟"), "冬季": ("寒冬腊月", "抵御严寒"),
        "春秋": ("早晚温差", "换季时节"), "四季": ("一年到头", "全年可穿"),
    },
    "pant_type": {
        "直筒裤": ("不挑腿型", "笔直利落"), "阔腿裤": ("行走带风", "腿部宽大"),
        "哈伦裤": ("裆部放量", "上松下紧"), "小脚裤": ("收口利落", "显腿细"),
        "喇叭裤": ("下摆外扩", "拉长腿部"), "工装裤": ("硬朗帅气", "功能感强"),
        "锥形裤": ("上宽下窄", "逐渐收窄"),
    },
    "waist_type": {
        "高腰": ("提升腰线", "拉长比例"), "中腰": ("不勒肚子", "位置适中"),
        "低腰": ("慵懒随性", "露出腰部"), "松紧腰": ("穿脱方便", "自由伸缩"),
    },
    "sleeve_type": {
        "泡泡袖": ("公主感", "蓬蓬的肩部"), "喇叭袖": ("袖摆散开", "飘逸灵动"),
        "灯笼袖": ("收紧蓬起", "圆润饱满"), "落肩袖": ("慵懒肩线", "肩部下落"),
        "蝙蝠袖": ("袖窿宽大", "舒展自如"), "常规袖": ("经典不出错", "规整合体"),
        "插肩袖": ("斜向肩线", "肩部利落"),
    },
    "thickness": {
        "加厚": ("厚实防风", "双层加固"), "常规": ("厚薄适中", "不厚不薄"),
        "薄款": ("轻薄透气", "轻盈无负担"), "加绒": ("内里绒毛", "绒里温暖"),
    },
    "boot_shaft_height": {
        "短筒": ("露出脚踝", "及踝长度"), "中筒": ("小腿中部", "到小腿肚"),
        "高筒": ("长及膝下", "裹住整个小腿"), "过膝": ("盖过膝盖", "大长腿"),
    },
    "pocket_type": {
        "斜插袋": ("方便插手", "两侧斜开"), "贴袋": ("缝在表面", "平贴立体"),
        "工装口袋": ("收纳多多", "功能性强"), "拉链口袋": ("防止掉落", "安全收纳"),
        "立体口袋": ("有型饱满", "立体感强"),
    },
    "opening_depth": {
        "浅口": ("露出脚背", "秀出脚面"), "中口": ("深浅适中", "不挤不松"),
        "深口": ("稳稳裹住脚", "脚背全覆盖"),
    },
    "elasticity": {
        "微弹": ("适度伸展", "略有伸缩"), "高弹": ("自由拉伸", "伸缩自如"),
        "无弹": ("挺括不变形", "不会松垮"),
    },
    "hem_type": {
        "荷叶边": ("波浪起伏", "飘逸灵动的边缘"), "毛边": ("随性做旧", "不羁流苏"),
        "不规则下摆": ("错落有致", "长短不一"), "弧形下摆": ("圆润流畅", "弧线优美"),
        "罗纹下摆": ("收口防风", "罗纹收紧"),
    },
    "slit_type": {
        "侧开衩": ("行走自如", "迈步轻松"), "前开衩": ("步履轻盈", "前片分开"),
        "后开衩": ("方便迈步", "背后开口"), "高开衩": ("性感迷人", "开至大腿"),
    },
}

#: Templates of text-slot clauses: {v} the tagged value, {c} the cue, {p} a part word.
TEXT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "pattern": ("{c}的{v}设计", "以{v}点缀{c}", "{v}元素{c}"),
    "material": ("{c}的{v}{p}", "采用{v}{p}{c}", "{v}材质{c}"),
    "style": ("{c}的{v}", "尽显{v}格调{c}", "{v}款式{c}"),
    "fit": ("{v}版型{c}", "{c}的{v}剪裁"),
    "craft": ("{v}工艺{c}", "{c}的{v}细节"),
    "season": ("{c}适合{v}穿着", "{v}必备{c}", "{c}的{v}单品"),
    "pant_type": ("{v}{c}", "{c}的{v}版型"),
    "waist_type": ("{v}设计{c}", "{c}的{v}剪裁"),
    "sleeve_type": ("{v}设计{c}", "{c}的{v}"),
    "thickness": ("{v}{p}{c}", "{c}的{v}设计"),
    "boot_shaft_height": ("{v}设计{c}", "{c}的{v}筒身"),
    "pocket_type": ("{v}设计{c}", "两侧{v}{c}"),
    "opening_depth": ("{v}设计{c}", "{c}的{v}款式"),
    "elasticity": ("{v}{p}{c}", "{c}的{v}面料"),
    "hem_type": ("{v}设计{c}", "{c}的{v}"),
    "slit_type": ("{v}设计{c}", "{c}的{v}"),
}
#: Templates of text-slot clauses without a cue (12% of mentions).
PLAIN_TEMPLATES = ("{v}的设计", "采用{v}", "{v}款")

#: Templates of visual-slot clauses: the same context whatever the value, but naming what the
#: value is about (领口, 袖子, 跟高, ...), as real descriptions do; otherwise "[MASK]的设计" could be
#: any slot and not even a perfect view of the product would tell which value was masked.
VISUAL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "color": ("{v}的配色", "整体采用{v}", "色调为{v}"),
    "neckline": ("领口为{v}", "{v}的领口设计", "领型采用{v}"),
    "sleeve_length": ("袖子为{v}", "{v}的袖长设计", "袖长采用{v}"),
    "skirt_length": ("长度为{v}", "{v}的长度设计", "下摆落在{v}"),
    "pant_length": ("长度为{v}", "{v}的长度设计", "腿部采用{v}"),
    "toecap": ("头型为{v}", "{v}的头型设计", "前端采用{v}"),
    "closure": ("穿脱方式为{v}", "采用{v}的穿脱方式", "{v}的开合设计"),
    "heel_height": ("跟高为{v}", "{v}的跟部设计", "跟部采用{v}"),
    "upper_height": ("帮面为{v}", "{v}的帮高设计", "帮高采用{v}"),
}
TWO_COLOR_TEMPLATES = ("{v}与{w}的搭配", "{v}和{w}两种色调", "{v}搭配{w}")

#: Clauses with no value at all (MEPAVE has many).
FILLERS = (
    "穿着舒适自在", "细节处理精致", "做工精细", "百搭实用", "展现个性魅力", "轻松打造时尚造型",
    "彰显品质感", "带来舒适体验", "凸显时尚品味", "日常搭配毫无压力", "上身效果出众",
    "走线均匀细密", "让你成为焦点", "简单又不失格调", "质感满分", "经久耐穿", "轻松驾驭各种场合",
)
CONNECTORS = ("", "", "搭配", "加上", "结合")

BRAND_SYLLABLES = ("雅", "歌", "迪", "森", "美", "凯", "诺", "菲", "尔", "斯", "蒂", "安", "朗",
                   "卡", "兰", "悦", "晨", "艾", "伦", "思", "慕", "拉", "图", "百", "晚", "熙")

# Shape and other attributes of bags (形状 is a MEPAVE attribute with no MAVP slot).
BAG_SHAPES = ("方形", "圆形", "水桶", "贝壳")
BAG_TEMPLATES = ("{c}的{v}包身", "{v}的设计", "采用{v}")

TAG_RE = re.compile(r"</?[^<>]*>")


def tag(zh: str, value: str) -> str:
    return f"<{zh}>{value}</{zh}>"


def strip_tags(tagged: str) -> str:
    return TAG_RE.sub("", tagged)


def all_fixed_strings() -> list[str]:
    """Every template, cue and filler (for the category-keyword check in the tests)."""
    out = list(FILLERS) + list(PLAIN_TEMPLATES) + list(TWO_COLOR_TEMPLATES) + list(BRAND_SYLLABLES)
    out += [c for c in CONNECTORS if c]
    for d in (TEXT_TEMPLATES, VISUAL_TEMPLATES):
        for ts in d.values():
            out += list(ts)
    for per_value in CUES.values():
        for cues in per_value.values():
            out += list(cues)
    return out


# ---- sentence writing ----------------------------------------------------------------------

@dataclass(frozen=True)
class Mention:
    slot: str
    value: str          # canonical
    surface: str        # what is written (canonical or a synonym variant)
    second: str | None = None   # second colour (surface) for two-value sentences


VISUAL_MENTION_RATE = 0.4
TEXT_MENTION_RATE = 0.45


class SentenceWriter:
    """Writes a product's sentences; one instance per world (holds schema look-ups).
    ``mention_rates``: per slot, the share of products whose text names it (default: the base
    rate of visual or text slots); ``expected_mentions``: per slot, how many mentions the world
    expects (where a product has more to say than its sentences hold, the slots expected least
    are said first)."""

    def __init__(self, schema: Schema, visual_slots: Sequence[str], synonym_rate: float = 0.15,
                 visual_mention_rate: float = VISUAL_MENTION_RATE, text_mention_rate: float = TEXT_MENTION_RATE,
                 two_color_rate: float = 0.12, mention_rates: Mapping[str, float] | None = None,
                 expected_mentions: Mapping[str, float] | None = None):
        self.schema = schema
        self.visual = frozenset(visual_slots)
        self.zh = {s.key: s.zh for s in schema.slots}
        self.variants: dict[tuple[str, str], list[str]] = {}
        for (slot, variant), canonical in sorted(schema.synonyms.items()):
            self.variants.setdefault((slot, canonical), []).append(variant)
        self.synonym_rate = synonym_rate
        self.visual_mention_rate = visual_mention_rate
        self.text_mention_rate = text_mention_rate
        self.two_color_rate = two_color_rate
        self.mention_rates = dict(mention_rates or {})
        self.expected_mentions = dict(expected_mentions or {})

    # -- helpers --
    @staticmethod
    def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
        return options[int(rng.integers(len(options)))]

    def brand(self, rng: np.random.Generator) -> str:
        n = 2 + int(rng.integers(2))
        return "".join(self._pick(rng, BRAND_SYLLABLES) for _ in range(n))

    def _surface(self, rng: np.random.Generator, slot: str, value: str) -> str:
        # Two draws whatever the value, so that which value a slot has never shifts the
        # random choices of the rest of the text.
        r, k = rng.random(), int(rng.integers(1 << 30))
        variants = self.variants.get((slot, value))
        if variants and r < self.synonym_rate:
            return variants[k % len(variants)]
        return value

    def _tagged(self, m: Mention) -> str:
        return tag(self.zh[m.slot], m.surface)

    def clause(self, rng: np.random.Generator, category: str, m: Mention) -> str:
        """One clause naming one mention (or two colours)."""
        v = self._tagged(m)
        if m.second is not None:
            w = tag(self.zh[m.slot], m.second)
            return self._pick(rng, TWO_COLOR_TEMPLATES).format(v=v, w=w)
        if m.slot in self.visual:
            return self._pick(rng, VISUAL_TEMPLATES[m.slot]).format(v=v)
        r = rng.random()
        cues = CUES[m.slot]
        if r < 0.80:
            cue = self._pick(rng, cues[m.value])
        elif r < 0.92:
            return self._pick(rng, PLAIN_TEMPLATES).format(v=v)
        else:
            others = [x for x in sorted(cues) if x != m.value]
            cue = self._pick(rng, cues[self._pick(rng, others)])
        part = self._pick(rng, PART_WORDS[category])
        return self._pick(rng, TEXT_TEMPLATES[m.slot]).format(v=v, c=cue, p=part)

    # -- products --
    def mentions(self, rng: np.random.Generator, category: str, truth: Mapping[str, str | None],
                 slots: Sequence[str], second_color: str | None) -> list[Mention]:
        """Which values a product's text names (each slot at most once)."""
        out: list[Mention] = []
        for slot in slots:
            value = truth[slot]
            rate = self.mention_rates.get(
                slot, self.visual_mention_rate if slot in self.visual else self.text_mention_rate)
            if value is None or rng.random() >= rate:
                continue
            second = None
            r2 = rng.random() if slot == "color" else 1.0
            if second_color and second_color != value and r2 < self.two_color_rate / rate:
                second = second_color
            out.append(Mention(slot, value, self._surface(rng, slot, value), second))
        order = rng.permutation(len(out))
        return [out[i] for i in order]

    def product_sentences(self, rng: np.random.Generator, category: str,
                          truth: Mapping[str, str | None], slots: Sequence[str], n_sent: int,
                          second_color: str | None = None) -> list[str]:
        """Tagged sentences of one product; the first names the product type.

        Each sentence holds 0-3 values; values that do not fit are left unsaid.
        """
        ms = self.mentions(rng, category, truth, slots, second_color)
        # Title: brand, up to two values with no context words, product word.
        n_title = min(len(ms), int(rng.integers(0, 3)))
        title_ms, rest = ms[:n_title], ms[n_title:]
        title = self.brand(rng) + "".join(self._tagged(m) if m.second is None else self.clause(rng, category, m)
                                          for m in title_ms)
        title += self._pick(rng, PRODUCT_WORDS[category])
        sentences = [title]
        # Spread the rest over the other sentences, at most three a sentence; the slots named
        # most rarely go first, so what is left unsaid is what many products say anyway.
        rest = sorted(rest, key=lambda m: self.expected_mentions.get(m.slot, 0.0))
        buckets: list[list[Mention]] = [[] for _ in range(n_sent - 1)]
        for m in rest:
            free = [i for i, b in enumerate(buckets) if len(b) < 3]
            if not free:
                break
            buckets[free[int(rng.integers(len(free)))]].append(m)
        for bucket in buckets:
            if not bucket:
                sentences.append(self._pick(rng, FILLERS))
                continue
            bucket = [bucket[i] for i in rng.permutation(len(bucket))]
            parts = [self.clause(rng, category, m) for m in bucket]
            text = parts[0]
            for p in parts[1:]:
                text += self._pick(rng, CONNECTORS) + p
            sentences.append(text)
        return sentences

    def bag_sentences(self, rng: np.random.Generator, color: str, n_sent: int) -> list[str]:
        """Sentences of a product of no category (a bag): no garment or shoe words."""
        word = self._pick(rng, OTHER_PRODUCT_WORDS)
        shape = tag("形状", self._pick(rng, BAG_SHAPES))
        out = [self.brand(rng) + shape + word]
        material = tag(self.zh["material"], self._pick(rng, ("真皮", "牛皮", "帆布", "皮革")))
        options = [
            self._pick(rng, BAG_TEMPLATES).format(v=material, c=self._pick(rng, ("质感高级", "结实耐用"))),
            self._pick(rng, VISUAL_TEMPLATES["color"]).format(v=tag(self.zh["color"], color)),
            tag(self.zh["closure"], "搭扣") + "开合",
        ]
        for i in range(n_sent - 1):
            out.append(options[i % len(options)])
        return out
