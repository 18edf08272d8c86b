"""Fixed demo identities that every generated dataset contains, one cast per matter.

Citizen IDs are literal (checksums computed, verified by stdnum in the tests). Birth dates are
therefore fixed and chosen for a demo clock near `DEMO_TODAY`; events such as births, deaths,
discharges and job losses are placed relative to the `today` given to `generate_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

DEMO_TODAY = date(2026, 11, 23)


@dataclass(frozen=True)
class DemoPerson:
    """A demo identity; `login` marks the ones a demo citizen signs in as."""

    id_number: str
    name: str
    matter: str
    role: str
    situation_zh: str
    situation_en: str
    login: bool = False


@dataclass(frozen=True)
class DemoHousehold:
    """A demo household; the first member is the head."""

    household_id: str
    region: str
    address: str
    member_id_numbers: tuple[str, ...]


@dataclass(frozen=True)
class DemoCompany:
    """A demo legal person (company) that employs demo people."""

    uscc: str
    name: str
    legal_rep_id_number: str
    region: str
    address: str
    kind: str
    established_on: date


DEMO_PEOPLE: list[DemoPerson] = [
    # newborn: two couples in the grandparents' household
    DemoPerson(
        id_number="310104196103120234",
        name="张建国",
        matter="newborn",
        role="grandfather",
        situation_zh="户主，已退休；两个儿子的小家庭同户。",
        situation_en="Household head, retired; both sons' families live with him.",
    ),
    DemoPerson(
        id_number="310104196308200465",
        name="陈秀英",
        matter="newborn",
        role="grandmother",
        situation_zh="户主之妻，已退休。",
        situation_en="The head's wife, retired.",
    ),
    DemoPerson(
        id_number="310104199205160353",
        name="张伟",
        matter="newborn",
        role="husband",
        situation_zh="王芳的丈夫，企业职工。",
        situation_en="王芳's husband, an employee.",
    ),
    DemoPerson(
        id_number="31010519940908028X",
        name="王芳",
        matter="newborn",
        role="mother",
        situation_zh="已婚，职工医保含生育保险；8天前分娩，孩子已取名张子涵。",
        situation_en=(
            "Married, employee medical insurance with maternity cover; gave birth 8 days ago, "
            "the child is already named 张子涵."
        ),
        login=True,
    ),
    DemoPerson(
        id_number="310104199511020172",
        name="张磊",
        matter="newborn",
        role="father",
        situation_zh="已婚，妻子参加城乡居民医保（无职工生育保险）；5天前孩子出生，尚未取名。",
        situation_en=(
            "Married, his wife has resident medical insurance (no employee maternity cover); "
            "their child was born 5 days ago and has no name yet."
        ),
        login=True,
    ),
    DemoPerson(
        id_number="34012119970214062X",
        name="刘洋",
        matter="newborn",
        role="wife",
        situation_zh="张磊之妻，出生于安徽长丰，户口已迁入；参加居民医保。",
        situation_en=(
            "张磊's wife, born in Changfeng (Anhui), household moved here; resident medical "
            "insurance."
        ),
    ),
    # school enrollment
    DemoPerson(
        id_number="310110198910220510",
        name="李明",
        matter="school_enrollment",
        role="parent",
        situation_zh="孩子明年9月入学（9月1日前满6周岁），同户，在户籍所在区有产权房。",
        situation_en=(
            "His child turns 6 before 1 September of next school year, same household; owns the "
            "flat in the household's district."
        ),
        login=True,
    ),
    DemoPerson(
        id_number="310109199007030840",
        name="赵丽",
        matter="school_enrollment",
        role="spouse",
        situation_zh="李明之妻，房屋共有人。",
        situation_en="李明's wife, co-owner of the flat.",
    ),
    DemoPerson(
        id_number="310110202010150130",
        name="李沐阳",
        matter="school_enrollment",
        role="child",
        situation_zh="6周岁，待入学。",
        situation_en="Six years old, about to start school.",
    ),
    # retirement
    DemoPerson(
        id_number="310107196607150399",
        name="孙国强",
        matter="retirement",
        role="applicant",
        situation_zh="企业职工，按渐进式延迟退休规定60岁5个月退休（2026年12月），缴费超过15年，职工医保，公积金有余额。",
        situation_en=(
            "Employee; under the 2025 gradual retirement-age rules he retires at 60 years and 5 "
            "months (December 2026); over 15 years of contributions, employee medical insurance, "
            "housing-fund balance."
        ),
        login=True,
    ),
    DemoPerson(
        id_number="31010719680402026X",
        name="周桂兰",
        matter="retirement",
        role="spouse",
        situation_zh="孙国强之妻，已退休。",
        situation_en="孙国强's wife, retired.",
    ),
    # employment
    DemoPerson(
        id_number="310106197209300716",
        name="陈建华",
        matter="employment",
        role="father",
        situation_zh="陈思远之父，户主。",
        situation_en="陈思远's father, household head.",
    ),
    DemoPerson(
        id_number="310106197412120585",
        name="林美玲",
        matter="employment",
        role="mother",
        situation_zh="陈思远之母。",
        situation_en="陈思远's mother.",
    ),
    DemoPerson(
        id_number="31010620030618095X",
        name="陈思远",
        matter="employment",
        role="graduate",
        situation_zh="23岁应届毕业生，7月起受雇于上海云帆信息科技有限公司，社保缴费中。",
        situation_en=(
            "A 23-year-old new graduate employed by 上海云帆信息科技有限公司 since July; social insurance "
            "contributing."
        ),
        login=True,
    ),
    DemoPerson(
        id_number="310106197802270431",
        name="黄志刚",
        matter="employment",
        role="employer",
        situation_zh="两家演示企业的法定代表人。",
        situation_en="Legal representative of both demo companies.",
    ),
    # housing fund
    DemoPerson(
        id_number="310105199012050648",
        name="吴婷",
        matter="housing_fund",
        role="applicant",
        situation_zh="企业职工，公积金有余额，近期购房已办理不动产登记。",
        situation_en="Employee with a housing-fund balance; recently registered a flat she bought.",
        login=True,
    ),
    # real estate transfer
    DemoPerson(
        id_number="310109197010100193",
        name="周建民",
        matter="real_estate_transfer",
        role="seller",
        situation_zh="出售单独所有的一套住房；另与妻子共有自住房。",
        situation_en="Sells a flat he owns alone; also co-owns his home with his wife.",
        login=True,
    ),
    DemoPerson(
        id_number="310109197205210325",
        name="钱慧",
        matter="real_estate_transfer",
        role="spouse",
        situation_zh="周建民之妻，自住房共有人。",
        situation_en="周建民's wife, co-owner of their home.",
    ),
    DemoPerson(
        id_number="310101199201250766",
        name="马晓燕",
        matter="real_estate_transfer",
        role="buyer",
        situation_zh="购房人，企业职工，有公积金。",
        situation_en="The buyer, an employee with a housing-fund account.",
        login=True,
    ),
    # veteran
    DemoPerson(
        id_number="310101197505050158",
        name="韩建军",
        matter="veteran",
        role="father",
        situation_zh="韩磊之父，户主。",
        situation_en="韩磊's father, household head.",
    ),
    DemoPerson(
        id_number="310101197709090880",
        name="孙丽",
        matter="veteran",
        role="mother",
        situation_zh="韩磊之母。",
        situation_en="韩磊's mother.",
    ),
    DemoPerson(
        id_number="310101200204090310",
        name="韩磊",
        matter="veteran",
        role="veteran",
        situation_zh="20天前退役（陆军士官，自主就业），户口已恢复至父母家。",
        situation_en=(
            "Discharged 20 days ago (army NCO, self-employment placement); household "
            "registration restored at his parents' address."
        ),
        login=True,
    ),
    # unemployment
    DemoPerson(
        id_number="310110198503300425",
        name="何静",
        matter="unemployment",
        role="applicant",
        situation_zh="10天前失业，社保暂停缴费，参加失业保险，累计缴费超过12个月。",
        situation_en=(
            "Lost her job 10 days ago; social insurance suspended, unemployment-insured, more "
            "than 12 months of contributions."
        ),
        login=True,
    ),
    # death
    DemoPerson(
        id_number="310106194802110274",
        name="杨永福",
        matter="death",
        role="deceased",
        situation_zh="退休职工，3天前因病去世（正常死亡），户口尚未注销。",
        situation_en=(
            "Retired employee who died of illness 3 days ago (natural); household registration "
            "not yet cancelled."
        ),
    ),
    DemoPerson(
        id_number="310106197506190541",
        name="杨晓红",
        matter="death",
        role="applicant",
        situation_zh="杨永福之女，同户，为父亲办理身后事。",
        situation_en="杨永福's daughter in the same household, handling her father's affairs.",
        login=True,
    ),
    # convenience store
    DemoPerson(
        id_number="310107198008080615",
        name="徐海波",
        matter="convenience_store",
        role="applicant",
        situation_zh="拟开便利店，名下有一处商业用房，尚无企业。",
        situation_en=(
            "Plans to open a convenience store; owns a shop premises and has no company yet."
        ),
        login=True,
    ),
]

DEMO_HOUSEHOLDS: list[DemoHousehold] = [
    DemoHousehold(
        "310104900001",
        "310104",
        "上海市徐汇区漕溪北路300弄12号601室",
        (
            "310104196103120234",
            "310104196308200465",
            "310104199205160353",
            "31010519940908028X",
            "310104199511020172",
            "34012119970214062X",
        ),
    ),
    DemoHousehold(
        "310110900001",
        "310110",
        "上海市杨浦区控江路1200弄5号302室",
        ("310110198910220510", "310109199007030840", "310110202010150130"),
    ),
    DemoHousehold(
        "310107900001",
        "310107",
        "上海市普陀区曹杨路1040弄8号401室",
        ("310107196607150399", "31010719680402026X"),
    ),
    DemoHousehold(
        "310106900001",
        "310106",
        "上海市静安区江宁路500弄3号1202室",
        ("310106197209300716", "310106197412120585", "31010620030618095X"),
    ),
    DemoHousehold(
        "310106900002",
        "310106",
        "上海市静安区威海路600弄2号1101室",
        ("310106197802270431",),
    ),
    DemoHousehold(
        "310105900001",
        "310105",
        "上海市长宁区仙霞路350弄6号702室",
        ("310105199012050648",),
    ),
    DemoHousehold(
        "310109900001",
        "310109",
        "上海市虹口区曲阳路800弄9号501室",
        ("310109197010100193", "310109197205210325"),
    ),
    DemoHousehold(
        "310101900001",
        "310101",
        "上海市黄浦区淮海中路600弄10号202室",
        ("310101199201250766",),
    ),
    DemoHousehold(
        "310101900002",
        "310101",
        "上海市黄浦区复兴东路1000弄7号303室",
        ("310101197505050158", "310101197709090880", "310101200204090310"),
    ),
    DemoHousehold(
        "310110900002",
        "310110",
        "上海市杨浦区国权路39弄4号601室",
        ("310110198503300425",),
    ),
    DemoHousehold(
        "310106900003",
        "310106",
        "上海市静安区西康路300弄5号402室",
        ("310106194802110274", "310106197506190541"),
    ),
    DemoHousehold(
        "310107900002",
        "310107",
        "上海市普陀区铜川路1500弄3号801室",
        ("310107198008080615",),
    ),
]

DEMO_COMPANIES: list[DemoCompany] = [
    DemoCompany(
        "91310106593128463P",
        "上海云帆信息科技有限公司",
        "310106197802270431",
        "310106",
        "上海市静安区江宁路212号15层",
        "有限责任公司（自然人投资或控股）",
        date(2012, 5, 18),
    ),
    DemoCompany(
        "91310107754682132K",
        "上海申江物流有限公司",
        "310106197802270431",
        "310107",
        "上海市普陀区真北路1108号3层",
        "有限责任公司（自然人投资或控股）",
        date(2003, 9, 9),
    ),
]

YUNFAN, SHENJIANG = (company.uscc for company in DEMO_COMPANIES)


def demo_cast(matter: str) -> dict[str, DemoPerson]:
    """The demo people of one matter, by role."""
    return {person.role: person for person in DEMO_PEOPLE if person.matter == matter}
