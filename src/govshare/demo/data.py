"""The demo province: departments at three levels and their catalogs (SCENARIOS.md).

安徽省 (340000), its capital 合肥市 (340100) and 合肥市蜀山区 (340104): codes checked against the
administrative-division reference (data/real/reference/admin_divisions_county.csv, 2022-10-31) and
hard-coded here so that the demo never reads files outside the package."""

from __future__ import annotations

from dataclasses import dataclass

from govshare.catalog.vocab import GRADE_RANK, Grade

PROVINCE = ("340000", "安徽省")
CITY = ("340100", "合肥市")
DISTRICT = ("340104", "蜀山区")


@dataclass(frozen=True)
class DemoDepartment:
    key: str  # also the username prefix
    name: str
    short: str  # for display names
    level: str
    region_code: str
    competent_authority: bool = False
    parent: str | None = None


DEPARTMENTS = [
    DemoDepartment("data", "安徽省数据资源管理局", "省数据局", "provincial", "340000", True),
    DemoDepartment("police", "安徽省公安厅", "省公安厅", "provincial", "340000"),
    DemoDepartment("civil", "安徽省民政厅", "省民政厅", "provincial", "340000"),
    DemoDepartment("hrss", "安徽省人力资源和社会保障厅", "省人社厅", "provincial", "340000"),
    DemoDepartment("land", "安徽省自然资源厅", "省自然资源厅", "provincial", "340000"),
    DemoDepartment("market", "安徽省市场监督管理局", "省市场监管局", "provincial", "340000"),
    DemoDepartment("health", "安徽省卫生健康委员会", "省卫健委", "provincial", "340000"),
    DemoDepartment("tax", "国家税务总局安徽省税务局", "省税务局", "provincial", "340000"),
    DemoDepartment("edu", "安徽省教育厅", "省教育厅", "provincial", "340000"),
    DemoDepartment("stats", "安徽省统计局", "省统计局", "provincial", "340000"),
    DemoDepartment("hf_data", "合肥市数据资源局", "市数据局", "municipal", "340100", True, "data"),
    DemoDepartment("hf_civil", "合肥市民政局", "市民政局", "municipal", "340100", False, "civil"),
    DemoDepartment("hf_edu", "合肥市教育局", "市教育局", "municipal", "340100", False, "edu"),
    DemoDepartment("hf_hpf", "合肥住房公积金管理中心", "市住房公积金管理中心", "municipal", "340100"),
    DemoDepartment("hf_medical", "合肥市医疗保障局", "市医保局", "municipal", "340100"),
    DemoDepartment("ss_edu", "合肥市蜀山区教育体育局", "区教育局", "county", "340104", False, "hf_edu"),
]

_TYPES = {"s": "string", "i": "integer", "d": "decimal", "dt": "date", "ts": "datetime", "b": "boolean"}


def item(name: str, chinese_name: str, kind: str = "s", length: int | None = None, grade: str = "一般2",
         pi: str = "none", description: str = "") -> dict:
    return {
        "name": name, "chinese_name": chinese_name, "data_type": _TYPES[kind], "length": length,
        "grade": grade, "personal_info": pi, "description": description,
    }


@dataclass
class DemoEntry:
    """One catalog entry of the demo and the state the seeding leaves it in.

    state: published (default), draft, submitted, returned; stale_days: data last updated that many
    days ago (so the entry shows as stale); revision: a second version with this reason and extra items."""

    department: str
    classification_code: str
    name: str
    abstract: str
    items: list[dict]
    share_type: str = "有条件共享"
    share_condition: str = ""
    share_method: str = "接口"
    legal_basis: str = ""
    data_format: str = "数据库"
    open_attribute: str = "不予开放"
    open_condition: str = ""
    update_cycle: str = "每日"
    grade: str = "一般3"
    theme: str = ""
    source_system: str = ""
    state: str = "published"
    return_reason: str = ""
    stale_days: int | None = None
    revision: tuple[str, list[dict]] | None = None

    def effective_grade(self) -> str:
        grades = [Grade.parse(self.grade), *(Grade.parse(i["grade"]) for i in self.items)]
        return max(grades, key=GRADE_RANK.__getitem__).label

    def payload(self) -> dict:
        """The entry as the service takes it; its grade is raised to its most sensitive item's (R17)."""
        return {
            "classification_code": self.classification_code, "name": self.name, "abstract": self.abstract,
            "data_format": self.data_format, "share_type": self.share_type,
            "share_condition": self.share_condition, "share_method": self.share_method,
            "legal_basis": self.legal_basis, "open_attribute": self.open_attribute,
            "open_condition": self.open_condition, "update_cycle": self.update_cycle, "grade": self.effective_grade(),
            "theme": self.theme, "source_system": self.source_system, "items": list(self.items),
        }


# Items that several departments collect: the one-source clusters of the demo (R06).
def id_number(name: str = "gmsfhm", chinese_name: str = "公民身份号码") -> dict:
    return item(name, chinese_name, "s", 18, "一般4", "pi", "18位公民身份号码")


def person_name(name: str = "xm", chinese_name: str = "姓名") -> dict:
    return item(name, chinese_name, "s", 50, "一般3", "pi")


def credit_code(name: str = "tyshxydm", chinese_name: str = "统一社会信用代码") -> dict:
    return item(name, chinese_name, "s", 18, "一般1", "none", "18位统一社会信用代码")


SOCIAL_AID = "仅限社会救助、低保审核等法定职责使用，按申请人身份核验，数据范围限本行政区域"
VERIFY_ONLY = "仅提供核验服务（返回一致/不一致），用于政务服务事项办理，不提供原始数据"
DUTY_ONLY = "仅限依法履行相关行政管理职责使用，按行政区划限定数据范围，不得向第三方提供"

ENTRIES: list[DemoEntry] = [
    # ------------------------------------------------------------------ 省公安厅
    DemoEntry(
        "police", "101", "人口基本信息",
        "全省户籍人口的基本信息，包括公民身份号码、姓名、性别、出生日期、户籍地址和户籍关系，用于社会救助、入学、"
        "社保参保等业务的身份核验",
        [id_number(), person_name(), item("xb", "性别", "s", 1, "一般2", "pi", "GB/T 2261.1 性别代码"),
         item("csrq", "出生日期", "dt", None, "一般3", "pi"),
         item("hjdz", "户籍地址", "s", 200, "一般4", "pi"), item("hh", "户号", "s", 9, "一般3", "pi"),
         item("yhzgx", "与户主关系", "s", 2, "一般2", "pi")],
        share_condition=SOCIAL_AID, theme="公共安全", source_system="人口信息管理系统", grade="一般4",
        revision=("依据《社会救助暂行办法》新增死亡标识信息项，支撑低保对象动态核查和校核纠错",
                  [item("swbs", "死亡标识", "b", None, "一般3", "pi", "是否已注销户口（死亡）")]),
    ),
    DemoEntry(
        "police", "101", "机动车登记信息",
        "全省机动车注册登记信息，用于社会救助家庭经济状况核对和交通管理",
        [id_number("syrzjhm", "所有人证件号码"), person_name("syrxm", "所有人姓名"),
         item("hphm", "号牌号码", "s", 15, "一般3", "pi"), item("hpzl", "号牌种类", "s", 2),
         item("cllx", "车辆类型", "s", 3), item("ccdjrq", "初次登记日期", "dt"), item("jdczt", "机动车状态", "s", 2)],
        share_condition=SOCIAL_AID + "，优先以核验方式提供", theme="公共安全", source_system="机动车登记系统",
        grade="一般4",
    ),
    DemoEntry(
        "police", "101", "居民身份证签发信息",
        "居民身份证申领、签发和有效期信息，用于身份证件有效性核验",
        [id_number(), person_name(), item("qfjg", "签发机关", "s", 60),
         item("yxqqsrq", "有效期限起始日期", "dt"), item("yxqjzrq", "有效期限截止日期", "dt")],
        share_condition=VERIFY_ONLY, share_method="核验",
        theme="公共安全", source_system="居民身份证管理系统", grade="一般4",
    ),
    DemoEntry(
        "police", "101", "户籍注销（死亡）信息",
        "因死亡注销户口的人员信息，用于养老金、低保等待遇停发核查",
        [id_number(), person_name(), item("swrq", "死亡日期", "dt", None, "一般3", "pi"),
         item("zxrq", "注销日期", "dt"), item("zxyy", "注销原因", "s", 20)],
        share_condition=DUTY_ONLY, theme="公共安全", source_system="人口信息管理系统", grade="一般4",
    ),
    DemoEntry(
        "police", "301", "机动车驾驶证信息",
        "机动车驾驶人的驾驶证准驾车型、有效期和状态",
        [id_number("sfzmhm", "身份证明号码"), person_name(), item("zjcx", "准驾车型", "s", 15),
         item("cclzrq", "初次领证日期", "dt"), item("yxqz", "有效期止", "dt"), item("jszzt", "驾驶证状态", "s", 2)],
        share_condition=DUTY_ONLY, theme="公共安全", source_system="驾驶人管理系统", state="draft",
    ),
    # ------------------------------------------------------------------ 省民政厅
    DemoEntry(
        "civil", "201", "婚姻登记信息",
        "全省婚姻登记（结婚、离婚、补发）记录，仅以核验方式提供婚姻状况",
        [item("nfsfzh", "男方身份证号", "s", 18, "一般4", "pi"), person_name("nfxm", "男方姓名"),
         item("nvsfzh", "女方身份证号", "s", 18, "一般4", "pi"), person_name("nvxm", "女方姓名"),
         item("djlx", "登记类型", "s", 10, "一般3", "pi", "结婚/离婚/补发"), item("djrq", "登记日期", "dt"),
         item("djjg", "登记机关", "s", 100)],
        share_condition=VERIFY_ONLY + "；核验婚姻状况（一致/不一致/无记录），不提供配偶姓名", share_method="核验",
        theme="社会保障", source_system="全国婚姻登记信息系统", grade="一般4",
    ),
    DemoEntry(
        "civil", "201", "低保对象信息",
        "全省城乡最低生活保障对象名单和保障标准，用于医保、教育资助等部门核验是否为低保对象",
        [id_number("sfzh", "身份证号"), person_name(), item("bzlb", "保障类别", "s", 10, "一般3", "pi", "城市/农村"),
         item("bzrs", "保障人数", "i", None, "一般3", "pi"),
         item("ybzje", "月保障金额", "d", 12, "一般4", "spi", "家庭月保障金（元）"),
         item("xzqhdm", "行政区划代码", "s", 12)],
        share_condition=SOCIAL_AID, theme="社会保障", source_system="社会救助信息系统", update_cycle="每月",
        grade="一般4",
    ),
    DemoEntry(
        "civil", "102", "社会组织登记信息",
        "全省社会团体、民办非企业单位和基金会的登记信息",
        [credit_code(), item("shzzmc", "社会组织名称", "s", 200), person_name("fddbr", "法定代表人"),
         item("djglj", "登记管理机关", "s", 100), item("clrq", "成立日期", "dt"), item("ywfw", "业务范围", "s", 2000)],
        share_type="无条件共享", share_method="库表", open_attribute="无条件开放", theme="社会组织",
        source_system="社会组织管理信息系统", update_cycle="每周", grade="一般2",
    ),
    DemoEntry(
        "civil", "201", "特困人员供养信息",
        "特困人员认定和供养方式信息",
        [id_number("sfzh", "身份证号"), person_name(), item("gyfs", "供养方式", "s", 10, "一般3", "pi"),
         item("rdrq", "认定日期", "dt"), item("zlnl", "自理能力", "s", 10, "一般4", "spi")],
        share_condition=SOCIAL_AID, theme="社会保障", source_system="社会救助信息系统", update_cycle="每月",
        grade="一般4",
    ),
    DemoEntry(
        "civil", "201", "残疾人两项补贴发放信息",
        "困难残疾人生活补贴和重度残疾人护理补贴发放信息",
        [id_number("sfzh", "身份证号"), person_name(), item("cjrzh", "残疾人证号", "s", 20, "一般4", "spi"),
         item("btlx", "补贴类型", "s", 10), item("btje", "补贴金额", "d", 12, "一般4", "pi"),
         item("ffyf", "发放月份", "s", 6)],
        share_condition=SOCIAL_AID, theme="社会保障", source_system="残疾人两项补贴信息系统", update_cycle="每月",
    ),
    # ------------------------------------------------------------------ 省人社厅
    DemoEntry(
        "hrss", "201", "社会保险缴费信息",
        "全省企业职工和城乡居民社会保险参保缴费明细",
        [id_number("sfzhm", "身份证号码"), person_name(), item("cbxz", "参保险种", "s", 10),
         item("jfjs", "缴费基数", "d", 12, "一般4", "spi", "金融账户与收入信息"), item("jfny", "缴费年月", "s", 6),
         item("cbdwmc", "参保单位名称", "s", 200)],
        share_condition=SOCIAL_AID + "；缴费基数仅以区间核验方式提供", theme="社会保障",
        source_system="社会保险信息系统", update_cycle="每月", grade="一般4",
    ),
    DemoEntry(
        "hrss", "105", "社会保障卡信息",
        "社会保障卡（含电子社保卡）持卡人和卡片状态",
        [id_number("sfzhm", "身份证号码"), person_name(), item("sbkh", "社会保障卡卡号", "s", 9, "一般4", "pi"),
         item("fkrq", "发卡日期", "dt"), item("kzt", "卡状态", "s", 2)],
        share_condition=DUTY_ONLY, theme="社会保障", source_system="社会保障卡管理系统", grade="一般4",
    ),
    DemoEntry(
        "hrss", "201", "就业登记信息",
        "城镇就业和失业登记信息",
        [id_number("sfzhm", "身份证号码"), person_name(), item("jydwmc", "就业单位名称", "s", 200),
         item("jydjrq", "就业登记日期", "dt"), item("jyxs", "就业形式", "s", 20)],
        share_condition=DUTY_ONLY, theme="就业创业", source_system="公共就业服务信息系统", update_cycle="每周",
    ),
    DemoEntry(
        "hrss", "201", "失业保险金领取信息",
        "失业保险金申领和发放信息",
        [id_number("sfzhm", "身份证号码"), person_name(), item("lqqsny", "领取起始年月", "s", 6),
         item("lqys", "领取月数", "i"), item("ylqje", "月领取金额", "d", 12, "一般4", "spi")],
        share_condition=SOCIAL_AID, theme="社会保障", source_system="社会保险信息系统", update_cycle="每月",
        grade="一般4",
    ),
    DemoEntry(
        "hrss", "105", "职业资格证书信息",
        "技能人员职业资格和职业技能等级证书信息",
        [item("zsbh", "证书编号", "s", 30), id_number("sfzhm", "身份证号码"), person_name(),
         item("zymc", "职业名称", "s", 100), item("dj", "等级", "s", 10), item("fzrq", "发证日期", "dt")],
        share_condition=VERIFY_ONLY, share_method="核验",
        open_attribute="有条件开放", open_condition="持证人本人授权查询",
        theme="就业创业", source_system="职业技能鉴定系统", update_cycle="每月",
    ),
    # ------------------------------------------------------------------ 省自然资源厅
    DemoEntry(
        "land", "103", "不动产登记信息",
        "不动产权利登记信息，优先以核验方式回答“是否持有登记的不动产”",
        [person_name("qlrmc", "权利人名称"), id_number("qlrzjhm", "权利人证件号码"),
         item("bdcdyh", "不动产单元号", "s", 28, "一般3", "pi"), item("zl", "坐落", "s", 200, "一般4", "pi"),
         item("jzmj", "建筑面积", "d", 12, "一般3", "pi"), item("djsj", "登记时间", "ts"),
         item("bdcqzh", "不动产权证书号", "s", 50, "一般3", "pi")],
        share_condition=SOCIAL_AID + "；仅提供是否持有不动产的核验结果", theme="自然资源",
        source_system="不动产登记信息管理基础平台", grade="一般4",
    ),
    DemoEntry(
        "land", "103", "国土空间规划成果信息",
        "省、市、县国土空间总体规划和详细规划批复成果",
        [item("ghbh", "规划编号", "s", 30), item("ghmc", "规划名称", "s", 200), item("xzqhdm", "行政区划代码", "s", 12),
         item("pfrq", "批复日期", "dt"), item("pfwh", "批复文号", "s", 60), item("ghqx", "规划期限", "s", 20)],
        share_type="无条件共享", share_method="文件", data_format="图形图像", open_attribute="无条件开放",
        theme="自然资源", source_system="国土空间基础信息平台", update_cycle="每季度", grade="一般1",
    ),
    DemoEntry(
        "land", "103", "建设用地审批信息",
        "农用地转用、土地征收和建设用地批准信息",
        [item("xmmc", "项目名称", "s", 200), item("yddwmc", "用地单位名称", "s", 200),
         item("ydmj", "用地面积", "d", 14), item("pzwh", "批准文号", "s", 60), item("pzrq", "批准日期", "dt"),
         item("xzqhdm", "行政区划代码", "s", 12)],
        share_type="无条件共享", share_method="库表", open_attribute="无条件开放", theme="自然资源",
        source_system="建设用地审批系统", update_cycle="每月", grade="一般1",
    ),
    DemoEntry(
        "land", "102", "矿业权登记信息",
        "采矿权、探矿权登记发证信息",
        [item("xkzh", "许可证号", "s", 30), item("kyqrmc", "矿业权人名称", "s", 200), credit_code(),
         item("kz", "矿种", "s", 50), item("yxqq", "有效期起", "dt"), item("yxqz", "有效期止", "dt")],
        share_type="无条件共享", share_method="库表", open_attribute="无条件开放", theme="自然资源",
        source_system="矿业权管理系统", update_cycle="每月", grade="一般1", stale_days=75,
    ),
    # ------------------------------------------------------------------ 省市场监管局
    DemoEntry(
        "market", "102", "企业登记信息",
        "全省市场主体（企业）登记注册信息，企业开办“一网通办”中供税务、人社、公安当日无条件共享",
        [credit_code(), item("qymc", "企业名称", "s", 200, "一般1"), person_name("fddbr", "法定代表人"),
         item("zczb", "注册资本", "d", 18, "一般1"), item("clrq", "成立日期", "dt", None, "一般1"),
         item("djzt", "登记状态", "s", 10, "一般1"), item("zs", "住所", "s", 200, "一般1"),
         item("jyfw", "经营范围", "s", 4000, "一般1")],
        share_type="无条件共享", share_method="库表", open_attribute="无条件开放", theme="市场监管",
        source_system="市场主体登记注册系统", grade="一般2",
    ),
    DemoEntry(
        "market", "104", "市场监管行政处罚信息",
        "市场监管部门作出的行政处罚决定信息（依法公示）",
        [item("cfjdswh", "处罚决定书文号", "s", 60), item("dsrmc", "当事人名称", "s", 200), credit_code(),
         item("wfxwlx", "违法行为类型", "s", 200), item("cfnr", "处罚内容", "s", 2000),
         item("cfjdrq", "处罚决定日期", "dt")],
        share_type="无条件共享", share_method="接口", open_attribute="无条件开放", theme="信用信息",
        source_system="行政执法办案系统", grade="一般1",
    ),
    DemoEntry(
        "market", "105", "食品经营许可证信息",
        "食品经营许可证核发、变更和注销信息",
        [item("xkzbh", "许可证编号", "s", 20), item("jyzmc", "经营者名称", "s", 200), credit_code(),
         item("jycs", "经营场所", "s", 200), item("ztyt", "主体业态", "s", 50), item("yxqz", "有效期至", "dt")],
        share_type="无条件共享", share_method="接口", open_attribute="无条件开放", theme="市场监管",
        source_system="食品经营许可系统", grade="一般1",
    ),
    DemoEntry(
        "market", "104", "经营异常名录信息",
        "列入和移出经营异常名录的企业信息",
        [credit_code(), item("qymc", "企业名称", "s", 200, "一般1"), item("lrrq", "列入日期", "dt"),
         item("lryy", "列入原因", "s", 200), item("zcjdjg", "作出决定机关", "s", 100)],
        share_type="无条件共享", share_method="库表", open_attribute="无条件开放", theme="信用信息",
        source_system="国家企业信用信息公示系统（安徽）", grade="一般1",
    ),
    DemoEntry(
        "market", "302", "特种设备使用登记信息",
        "锅炉、压力容器、电梯等特种设备使用登记信息",
        [item("sbzcdm", "设备注册代码", "s", 20), item("sydwmc", "使用单位名称", "s", 200),
         item("sblb", "设备类别", "s", 20), item("djrq", "登记日期", "dt"), item("xcjyrq", "下次检验日期", "dt")],
        share_type="有条件共享", share_condition=DUTY_ONLY, theme="市场监管", source_system="特种设备安全监察系统",
        update_cycle="每周", grade="一般2",
    ),
    # ------------------------------------------------------------------ 省卫健委
    DemoEntry(
        "health", "202", "出生医学证明信息",
        "出生医学证明签发信息，“出生一件事”中回流至市、县卫健部门，用于户口登记、医保参保和社保卡办理",
        [item("csyxzmbh", "出生医学证明编号", "s", 10, "一般3", "pi"), person_name("xsrxm", "新生儿姓名"),
         item("xb", "性别", "s", 1, "一般2", "pi"), item("csrq", "出生日期", "dt", None, "一般3", "pi"),
         item("csdd", "出生地点", "s", 200, "一般3", "pi"), person_name("mqxm", "母亲姓名"),
         item("mqsfzh", "母亲身份证号", "s", 18, "一般4", "pi"), item("qfrq", "签发日期", "dt")],
        share_condition="仅限出生一件事联办（户口登记、医保参保、社保卡申领）使用，按签发地行政区划限定",
        theme="医疗健康", source_system="妇幼健康信息系统", grade="一般4",
    ),
    DemoEntry(
        "health", "202", "死亡医学证明信息",
        "居民死亡医学证明（推断）书签发信息",
        [item("swzmbh", "死亡医学证明编号", "s", 20, "一般3", "pi"), id_number(), person_name(),
         item("swrq", "死亡日期", "dt", None, "一般3", "pi"), item("gbsw", "根本死因", "s", 200, "一般4", "spi"),
         item("qfjg", "签发机构", "s", 200)],
        share_condition=DUTY_ONLY + "；根本死因仅向卫健、统计部门提供", theme="医疗健康",
        source_system="人口死亡信息登记管理系统", grade="一般4",
    ),
    DemoEntry(
        "health", "102", "医疗机构执业登记信息",
        "医疗机构执业许可登记信息",
        [item("djh", "登记号", "s", 30), item("jgmc", "机构名称", "s", 200), credit_code(),
         item("jglb", "机构类别", "s", 50), item("dz", "地址", "s", 200), item("yxqx", "有效期限", "dt")],
        share_type="无条件共享", share_method="库表", open_attribute="无条件开放", theme="医疗健康",
        source_system="医疗机构电子化注册系统", update_cycle="每周", grade="一般1",
    ),
    DemoEntry(
        "health", "105", "医师执业注册信息",
        "医师执业注册和执业范围信息",
        [item("zyzsbm", "执业证书编码", "s", 30), person_name(), id_number("sfzh", "身份证号"),
         item("zylb", "执业类别", "s", 20), item("zyfw", "执业范围", "s", 100),
         item("zyjgmc", "执业机构名称", "s", 200)],
        share_condition=VERIFY_ONLY, share_method="核验",
        open_attribute="有条件开放", open_condition="仅公开姓名、执业类别和执业机构",
        theme="医疗健康", source_system="医师电子化注册系统", update_cycle="每周",
    ),
    DemoEntry(
        "health", "202", "预防接种信息",
        "儿童预防接种记录，用于入学入托查验",
        [item("szzsfzh", "受种者身份证号", "s", 18, "一般4", "pi"), person_name("szzxm", "受种者姓名"),
         item("ymmc", "疫苗名称", "s", 100, "一般4", "spi"), item("jzrq", "接种日期", "dt", None, "一般4", "spi"),
         item("jzdw", "接种单位", "s", 200)],
        share_condition="仅限入学入托预防接种证查验使用，以核验方式提供", theme="医疗健康",
        source_system="免疫规划信息系统", grade="一般4", state="submitted",
    ),
    # ------------------------------------------------------------------ 省税务局
    DemoEntry(
        "tax", "102", "纳税人登记信息",
        "单位纳税人税务登记和状态信息",
        [item("nsrsbh", "纳税人识别号", "s", 20), item("nsrmc", "纳税人名称", "s", 200), credit_code(),
         person_name("fddbr", "法定代表人"), item("djrq", "登记日期", "dt"), item("nsrzt", "纳税人状态", "s", 10)],
        share_type="无条件共享", share_method="库表", theme="财税金融", source_system="金税三期税收管理系统",
        grade="一般2",
    ),
    DemoEntry(
        "tax", "104", "纳税信用等级信息",
        "纳税信用评价结果（A级纳税人名单依法公开）",
        [item("nsrsbh", "纳税人识别号", "s", 20), item("nsrmc", "纳税人名称", "s", 200),
         item("pjnd", "评价年度", "s", 4), item("xydj", "信用等级", "s", 2)],
        share_type="无条件共享", share_method="接口", open_attribute="有条件开放", open_condition="仅公开A级纳税人",
        theme="信用信息", source_system="纳税信用管理系统", update_cycle="每年", grade="一般1",
    ),
    DemoEntry(
        "tax", "201", "个人所得税纳税记录",
        "个人所得税综合所得申报和纳税记录，用于住房公积金贷款、社会救助收入核查",
        [id_number("sfzjhm", "身份证件号码"), person_name(), item("ssq", "所属期", "s", 6),
         item("sre", "收入额", "d", 16, "一般4", "spi"), item("yjse", "已缴税额", "d", 16, "一般4", "spi")],
        share_condition="仅限社会救助收入核查和住房公积金贷款审核，需申请人书面授权，按收入区间核验提供",
        theme="财税金融", source_system="自然人电子税务局", update_cycle="每月", grade="一般4",
    ),
    DemoEntry(
        "tax", "104", "欠税公告信息",
        "依法公告的欠缴税款纳税人信息",
        [item("nsrsbh", "纳税人识别号", "s", 20), item("nsrmc", "纳税人名称", "s", 200),
         person_name("fddbr", "法定代表人"), item("qsze", "欠税总额", "d", 18)],
        share_type="无条件共享", share_method="文件", data_format="电子表格", open_attribute="无条件开放",
        theme="信用信息", source_system="金税三期税收管理系统", update_cycle="每季度", grade="一般1",
        state="returned",
        return_reason="摘要未说明公告范围和公告周期，请补充欠税公告依据（《税收征收管理法》第四十五条）",
    ),
    # ------------------------------------------------------------------ 省教育厅
    DemoEntry(
        "edu", "203", "中小学生学籍信息",
        "全省中小学生电子学籍信息",
        [item("qgxjh", "全国学籍号", "s", 19, "一般3", "pi"), person_name(), id_number("sfzjhm", "身份证件号码"),
         item("xxmc", "学校名称", "s", 200), item("nj", "年级", "s", 10), item("rxny", "入学年月", "s", 6)],
        share_condition="仅限教育资助、义务教育入学审核使用，按学校所在行政区划限定", theme="教育",
        source_system="中小学生学籍信息管理系统", update_cycle="每月", grade="一般4",
    ),
    DemoEntry(
        "edu", "105", "教师资格证书信息",
        "教师资格认定和证书信息",
        [item("zshm", "证书号码", "s", 20), person_name(), id_number("sfzhm", "身份证号码"),
         item("zgzl", "资格种类", "s", 30), item("rjxk", "任教学科", "s", 30), item("fzrq", "发证日期", "dt")],
        share_condition=VERIFY_ONLY, share_method="核验",
        theme="教育", source_system="教师资格管理信息系统", update_cycle="每月",
    ),
    DemoEntry(
        "edu", "102", "学校基本信息",
        "全省各级各类学校的基本办学信息",
        [item("xxbsm", "学校标识码", "s", 10), item("xxmc", "学校名称", "s", 200), credit_code(),
         item("bxlx", "办学类型", "s", 20), item("jbz", "举办者", "s", 200), item("dz", "地址", "s", 200),
         item("xzqhdm", "行政区划代码", "s", 12)],
        share_type="无条件共享", share_method="库表", open_attribute="无条件开放", theme="教育",
        source_system="教育事业统计系统", update_cycle="每年", grade="一般1",
    ),
    DemoEntry(
        "edu", "203", "高校毕业生信息",
        "普通高校毕业生学历和就业去向信息",
        [id_number("sfzhm", "身份证号码"), person_name(), item("yxmc", "院校名称", "s", 200),
         item("zy", "专业", "s", 100), item("xl", "学历", "s", 10), item("byrq", "毕业日期", "dt")],
        share_condition="仅限就业服务和人才引进政策审核使用", theme="教育", source_system="高校毕业生就业信息系统",
        update_cycle="每年", state="draft",
    ),
    # ------------------------------------------------------------------ 省统计局
    DemoEntry(
        "stats", "206", "经济普查单位原始调查资料",
        "全国经济普查中能够识别单个调查对象的原始调查资料，依法不予共享，仅用于统计目的",
        [credit_code(), item("dwxxmc", "单位详细名称", "s", 200), item("hydm", "行业代码", "s", 4),
         item("cyry", "从业人员期末人数", "i"), item("yysr", "营业收入", "d", 18, "一般3"),
         item("zczj", "资产总计", "d", 18, "一般3")],
        share_type="不予共享", share_method="文件", data_format="数据库",
        legal_basis="《中华人民共和国统计法》第二十八条：统计调查中获得的能够识别或者推断单个统计调查对象身份的资料，"
                    "任何单位和个人不得对外提供、泄露，不得用于统计以外的目的",
        theme="统计", source_system="经济普查数据处理系统", update_cycle="不定期", grade="重要",
    ),
    DemoEntry(
        "stats", "206", "国民经济主要指标",
        "全省及各市地区生产总值、规模以上工业增加值等主要统计指标（已公开发布的汇总数据）",
        [item("zbmc", "指标名称", "s", 100), item("tjzq", "统计周期", "s", 10), item("xzqhdm", "行政区划代码", "s", 12),
         item("zbz", "指标值", "d", 20), item("jldw", "计量单位", "s", 20)],
        share_type="无条件共享", share_method="文件", data_format="电子表格", open_attribute="无条件开放",
        theme="统计", source_system="统计联网直报平台", update_cycle="每季度", grade="一般1", stale_days=200,
    ),
    DemoEntry(
        "stats", "206", "统计用区划代码和城乡划分代码",
        "统计用区划代码和城乡分类代码",
        [item("xzqhdm", "行政区划代码", "s", 12), item("mc", "名称", "s", 100), item("cxfldm", "城乡分类代码", "s", 3),
         item("sjdm", "上级区划代码", "s", 12), item("nf", "年份", "s", 4)],
        share_type="无条件共享", share_method="文件", data_format="电子表格", open_attribute="无条件开放",
        theme="统计", source_system="统计用区划代码管理系统", update_cycle="每年", grade="一般1",
    ),
    # ------------------------------------------------------------------ 省数据局
    DemoEntry(
        "data", "105", "电子证照目录信息",
        "全省电子证照库证照类型和签发信息，供政务服务“免证办”使用",
        [item("zzbh", "证照编号", "s", 50), item("zzlx", "证照类型", "s", 50), item("czrmc", "持证主体名称", "s", 200),
         item("czrdm", "持证主体代码", "s", 18, "一般4", "pi"), item("fzjg", "发证机关", "s", 100),
         item("fzrq", "发证日期", "dt")],
        share_condition="仅限政务服务事项办理时经持证人授权调用", theme="政务服务", source_system="安徽省电子证照库",
        grade="一般3",
    ),
    DemoEntry(
        "data", "301", "政务服务事项目录",
        "全省政务服务事项基本目录和实施清单",
        [item("sxbm", "事项编码", "s", 40), item("sxmc", "事项名称", "s", 200), item("sszt", "实施主体", "s", 100),
         item("sxlx", "事项类型", "s", 20), item("fdbjsx", "法定办结时限", "i"), item("cnbjsx", "承诺办结时限", "i")],
        share_type="无条件共享", share_method="接口", open_attribute="无条件开放", theme="政务服务",
        source_system="安徽政务服务网", update_cycle="每周", grade="一般1",
    ),
    # ------------------------------------------------------------------ 合肥市数据资源局
    DemoEntry(
        "hf_data", "301", "12345热线工单信息",
        "合肥市12345政务服务便民热线受理和办理工单",
        [item("gdbh", "工单编号", "s", 30), item("sqlx", "诉求类型", "s", 20), item("sqnr", "诉求内容", "s", 4000),
         person_name("ldrxm", "来电人姓名"), item("lxdh", "联系电话", "s", 20, "一般3", "pi"),
         item("slsj", "受理时间", "ts"), item("blzt", "办理状态", "s", 10)],
        share_condition="仅限承办单位办理本单位工单使用，来电人信息脱敏提供", theme="政务服务",
        source_system="合肥市12345热线系统", update_cycle="实时",
    ),
    # ------------------------------------------------------------------ 合肥市民政局
    DemoEntry(
        "hf_civil", "201", "城乡低保对象信息",
        "合肥市城乡低保对象和保障金发放信息",
        [id_number("sfzjhm", "身份证件号码"), person_name(), item("hjszd", "户籍所在地", "s", 200, "一般4", "pi"),
         item("bzrs", "保障人数", "i", None, "一般3", "pi"), item("ybzje", "月保障金额", "d", 12, "一般4", "spi"),
         item("sprq", "审批日期", "dt")],
        share_condition=SOCIAL_AID, theme="社会保障", source_system="合肥市社会救助系统", update_cycle="每月",
        grade="一般4",
    ),
    DemoEntry(
        "hf_civil", "201", "临时救助信息",
        "临时救助申请、审批和发放信息",
        [id_number("sfzjhm", "身份证件号码"), person_name(), item("jzlx", "救助类型", "s", 20),
         item("jzje", "救助金额", "d", 12, "一般3", "pi"), item("jzrq", "救助日期", "dt")],
        share_condition=SOCIAL_AID, theme="社会保障", source_system="合肥市社会救助系统", update_cycle="每月",
    ),
    DemoEntry(
        "hf_civil", "102", "养老服务机构信息",
        "合肥市养老服务机构备案和床位信息",
        [credit_code(), item("jgmc", "机构名称", "s", 200), item("dz", "地址", "s", 200), item("cws", "床位数", "i"),
         item("barq", "备案日期", "dt")],
        share_type="无条件共享", share_method="接口", open_attribute="无条件开放", theme="社会保障",
        source_system="合肥市智慧养老平台", update_cycle="每月", grade="一般1",
    ),
    # ------------------------------------------------------------------ 合肥市教育局
    DemoEntry(
        "hf_edu", "203", "义务教育入学报名信息",
        "合肥市义务教育阶段新生入学报名和审核信息",
        [item("bmbh", "报名编号", "s", 20), person_name("xsxm", "学生姓名"),
         item("xssfzh", "学生身份证号", "s", 18, "一般4", "pi"), person_name("jhrxm", "监护人姓名"),
         item("hjdz", "户籍地址", "s", 200, "一般4", "pi"), item("bmxx", "报名学校", "s", 200),
         item("shzt", "审核状态", "s", 10)],
        share_condition="仅限义务教育入学资格审核使用，按学区所在行政区划限定", theme="教育",
        source_system="合肥市义务教育招生平台", update_cycle="每日", grade="一般4",
    ),
    DemoEntry(
        "hf_edu", "102", "民办学校办学许可信息",
        "合肥市民办学校办学许可证信息",
        [item("bxxkzh", "办学许可证号", "s", 30), item("xxmc", "学校名称", "s", 200), credit_code(),
         item("jbz", "举办者", "s", 200), item("yxqz", "有效期至", "dt")],
        share_type="无条件共享", share_method="接口", open_attribute="无条件开放", theme="教育",
        source_system="合肥市教育管理平台", update_cycle="每月", grade="一般1",
    ),
    DemoEntry(
        "hf_edu", "203", "幼儿园基本信息",
        "合肥市幼儿园办园类型、学位和收费信息",
        [item("yeymc", "幼儿园名称", "s", 200), item("bylx", "办园类型", "s", 20), item("xws", "学位数", "i"),
         item("sfbz", "收费标准", "d", 10), item("dz", "地址", "s", 200)],
        share_type="无条件共享", share_method="文件", data_format="电子表格", open_attribute="无条件开放",
        theme="教育", source_system="合肥市教育管理平台", update_cycle="每半年", grade="一般1",
        state="draft",
    ),
    # ------------------------------------------------------------------ 合肥住房公积金管理中心
    DemoEntry(
        "hf_hpf", "205", "住房公积金缴存信息",
        "个人住房公积金账户缴存信息，用于贷款审核和社会救助收入核查",
        [id_number("sfzhm", "身份证号码"), person_name(), item("grzh", "个人账号", "s", 20, "一般4", "spi"),
         item("dwmc", "单位名称", "s", 200), item("jcjs", "缴存基数", "d", 12, "一般4", "spi"),
         item("yjce", "月缴存额", "d", 12, "一般4", "spi"), item("zhzt", "账户状态", "s", 10)],
        share_condition=SOCIAL_AID + "；金额以区间核验方式提供", theme="住房保障",
        source_system="合肥住房公积金综合业务系统", update_cycle="每月", grade="一般4",
    ),
    DemoEntry(
        "hf_hpf", "205", "住房公积金贷款信息",
        "住房公积金个人住房贷款发放和还款信息",
        [id_number("sfzhm", "身份证号码"), person_name(), item("dkje", "贷款金额", "d", 14, "一般4", "spi"),
         item("dkqx", "贷款期限", "i"), item("ffrq", "发放日期", "dt"), item("dkzt", "贷款状态", "s", 10)],
        share_condition="仅限不动产登记、社会救助家庭经济状况核对使用，以核验方式提供", theme="住房保障",
        source_system="合肥住房公积金综合业务系统", update_cycle="每月", grade="一般4",
    ),
    DemoEntry(
        "hf_hpf", "205", "住房公积金缴存单位信息",
        "在合肥住房公积金管理中心开户的缴存单位",
        [credit_code(), item("dwmc", "单位名称", "s", 200), item("dwzh", "单位账号", "s", 20),
         item("jcrs", "缴存人数", "i"), item("khrq", "开户日期", "dt")],
        share_type="无条件共享", share_method="库表", theme="住房保障", source_system="合肥住房公积金综合业务系统",
        update_cycle="每月", grade="一般2",
    ),
    # ------------------------------------------------------------------ 合肥市医疗保障局
    DemoEntry(
        "hf_medical", "201", "基本医疗保险参保信息",
        "合肥市职工和城乡居民基本医疗保险参保信息",
        [id_number(), person_name(), item("cbxz", "参保险种", "s", 10), item("cbzt", "参保状态", "s", 10),
         item("cbrq", "参保日期", "dt"), item("cbdqh", "参保地行政区划代码", "s", 6)],
        share_condition=DUTY_ONLY, theme="医疗保障", source_system="国家医疗保障信息平台（合肥）", grade="一般4",
    ),
    DemoEntry(
        "hf_medical", "102", "定点医药机构信息",
        "医保定点医疗机构和定点零售药店名单",
        [item("ddjgbm", "定点机构编码", "s", 20), item("jgmc", "机构名称", "s", 200), credit_code(),
         item("jglx", "机构类型", "s", 20), item("xydj", "协议等级", "s", 10), item("dz", "地址", "s", 200)],
        share_type="无条件共享", share_method="接口", open_attribute="无条件开放", theme="医疗保障",
        source_system="国家医疗保障信息平台（合肥）", update_cycle="每周", grade="一般1",
    ),
    DemoEntry(
        "hf_medical", "202", "医疗费用结算信息",
        "参保人员医疗费用结算明细，用于医疗救助和大病保险",
        [id_number(), person_name(), item("jzjgmc", "就诊机构名称", "s", 200, "一般4", "spi"),
         item("jsrq", "结算日期", "dt"), item("fyze", "费用总额", "d", 14, "一般4", "spi"),
         item("tczf", "统筹支付", "d", 14, "一般4", "spi"), item("grzf", "个人自付", "d", 14, "一般4", "spi")],
        share_condition="仅限医疗救助和因病支出型困难家庭认定使用，按参保地行政区划限定", theme="医疗保障",
        source_system="国家医疗保障信息平台（合肥）", update_cycle="每日", grade="重要", state="submitted",
    ),
    # ------------------------------------------------------------------ 蜀山区教育体育局
    DemoEntry(
        "ss_edu", "203", "义务教育学区划分信息",
        "蜀山区公办中小学施教区（学区）范围和招生计划",
        [item("xxmc", "学校名称", "s", 200), item("xqfw", "学区范围", "s", 2000), item("zsjhs", "招生计划数", "i"),
         item("xzqhdm", "行政区划代码", "s", 12)],
        share_type="无条件共享", share_method="文件", data_format="电子文件", open_attribute="无条件开放",
        theme="教育", source_system="蜀山区教育管理平台", update_cycle="每年", grade="一般1",
    ),
    DemoEntry(
        "ss_edu", "201", "学生资助信息",
        "蜀山区家庭经济困难学生资助发放信息",
        [item("xsxm", "学生姓名", "s", 50, "一般3", "pi"), item("qgxjh", "全国学籍号", "s", 19, "一般3", "pi"),
         item("zzxm", "资助项目", "s", 50, "一般3", "spi"), item("zzje", "资助金额", "d", 10, "一般3", "spi"),
         item("ffrq", "发放日期", "dt")],
        share_condition="仅限教育资助和社会救助核查使用，数据范围限蜀山区", theme="教育",
        source_system="蜀山区教育管理平台", update_cycle="每半年",
    ),
]

# Lead source departments the provincial authority names after detection (R06).
LEADS = [
    ("身份证号", "string", "police",
     "《中华人民共和国居民身份证法》规定公民身份号码由公安机关编制，人口基本信息以省公安厅为权威来源"),
    ("户籍地址", "string", "police", "户籍地址以公安机关户口登记为准（《中华人民共和国户口登记条例》）"),
    ("统一社会信用代码", "string", "market",
     "《市场主体登记管理条例》规定市场主体统一社会信用代码由登记机关赋码，企业信息以省市场监管局为权威来源"),
]
