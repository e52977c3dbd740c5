"""A small hand-written Chinese, Japanese, Korean and English collection with known answers.

Used by the CJK tests and by ``bench/cjk_keywords.py`` / ``bench/cjk_search.py``. Queries are
words that sit *inside* running text, as people search for them: short words (``预算``),
compounds and parts of compounds (``纪要`` of ``会议纪要``, ``熊猫`` of ``大熊猫``), codes next to
Han characters (``INV-4471``), Japanese words between kana, and a few multi-word questions.
Each query has exactly one relevant document.
"""

from __future__ import annotations

DOCS: dict[str, str] = {
    "zh01": "上周五的项目会议纪要已经整理好了，主要讨论了明年的预算分配和人员招聘计划。",
    "zh02": "请在月底之前支付发票INV-4471，金额为三千二百元，逾期将收取滞纳金。",
    "zh03": "我们周末去西湖边骑自行车，天气很好，湖面上有很多游船。",
    "zh04": "这款笔记本电脑的电池续航时间大约十个小时，屏幕分辨率很高。",
    "zh05": "奶奶做的红烧肉味道特别香，秘诀是用冰糖炒糖色再慢炖两个小时。",
    "zh06": "服务器在凌晨三点因为磁盘空间不足而宕机，运维团队紧急扩容后恢复正常。",
    "zh07": "孩子们在幼儿园学习唱歌和画画，老师说他们最喜欢画大熊猫。",
    "zh08": "北京到上海的高铁只需要四个半小时，比坐飞机还方便。",
    "zh09": "医生建议他每天散步三十分钟，少吃油腻的食物，控制血压。",
    "zh10": "这份合同的第七条规定了违约责任和赔偿金额。",
    "zh11": "图书馆新到了一批科幻小说，其中刘慈欣的三体最受欢迎。",
    "zh12": "春节期间超市的水果价格上涨了两成，苹果和橘子尤其贵。",
    "zh13": "公司的年终奖将在一月份发放，具体数额取决于绩效考核结果。",
    "zh14": "台风即将登陆广东沿海，气象台发布了红色预警，请市民减少外出。",
    "zh15": "他在咖啡馆里用手机远程参加了视频会议。",
    "zh16": "新买的洗衣机噪音太大，我们打电话联系了售后服务。",
    "zh17": "山顶的日出非常壮观，我们凌晨四点就开始爬山了。",
    "zh18": "研究团队发表了一篇关于人工智能和机器学习的论文。",
    "zh19": "小区的停车位不够用，物业决定在地下室增加五十个车位。",
    "zh20": "这家餐厅的麻辣火锅很正宗，排队要等一个小时。",
    "zh21": "请把客户的订单号和收货地址发给仓库，今天下午安排发货。",
    "zh22": "学校图书馆的开放时间调整为早上八点到晚上十点。",
    "zh23": "我的护照快要过期了，需要去出入境管理局办理续签。",
    "zh24": "这只小猫喜欢躺在窗台上晒太阳。",
    "ja01": "来週の会議は東京本社の三階で午後二時から開催します。",
    "ja02": "新しいスマートフォンのカメラはとても綺麗な写真が撮れます。",
    "ja03": "京都の紅葉は十一月の中旬が一番美しいと言われています。",
    "ja04": "請求書番号INV-8812の支払い期限は今月末です。",
    "ja05": "駅前のラーメン屋は深夜まで営業しています。",
    "ja06": "雨が降ってきたので、傘を持って出かけてください。",
    "ko01": "서울에서 열리는 국제 회의에 참석할 예정입니다.",
    # near misses: the characters of a query word, but not the word (no query is about these)
    "zx01": "天气预报说明天会下雨，算了，我们要把纪律放在第一位，不去了。",
    "zx02": "电视机坏了，池塘里的鱼很多，火车站旁边有一家卖锅的商店。",
    "zx03": "熊和猫都是动物，各位乘客请注意，列车即将到站。",
    "zx04": "明年我们计划去日本旅游，顺便看看那里的大学和会场。",
    "zx05": "东京和京都之间的新干线非常快，车票可以在网上买。",
    "zx06": "他的日记里写着：出门前记得关窗，护好自己，照顾家人。",
    "en01": "Quarterly budget review: marketing spend rose by ten percent while travel fell.",
    "en02": "Invoice INV-5520 remains unpaid; please settle the balance by the end of the month.",
    "en03": "The cat sleeps on the windowsill in the warm afternoon sun.",
    "en04": "Our server ran out of disk space at 3 a.m. and the on-call engineer added a volume.",
    "en05": "We hiked to the summit before dawn to watch the sunrise over the clouds.",
    "en06": "The library extended its opening hours until ten in the evening.",
}

# (query, the one relevant document)
QUERIES: list[tuple[str, str]] = [
    ("会议纪要", "zh01"), ("纪要", "zh01"), ("预算", "zh01"), ("明年的预算", "zh01"),
    ("发票", "zh02"), ("INV-4471", "zh02"), ("滞纳金", "zh02"),
    ("西湖", "zh03"), ("自行车", "zh03"), ("游船", "zh03"),
    ("电池", "zh04"), ("笔记本电脑", "zh04"), ("分辨率", "zh04"),
    ("红烧肉", "zh05"), ("冰糖", "zh05"),
    ("服务器宕机", "zh06"), ("磁盘空间", "zh06"), ("扩容", "zh06"),
    ("幼儿园", "zh07"), ("熊猫", "zh07"),
    ("高铁", "zh08"), ("高铁 上海", "zh08"), ("飞机", "zh08"),
    ("血压", "zh09"), ("散步", "zh09"),
    ("合同", "zh10"), ("违约责任", "zh10"), ("赔偿", "zh10"),
    ("科幻小说", "zh11"), ("三体", "zh11"), ("刘慈欣", "zh11"),
    ("水果价格", "zh12"), ("春节", "zh12"), ("橘子", "zh12"),
    ("年终奖", "zh13"), ("绩效考核", "zh13"), ("绩效", "zh13"),
    ("台风", "zh14"), ("红色预警", "zh14"), ("预警", "zh14"),
    ("咖啡馆", "zh15"), ("视频会议", "zh15"),
    ("洗衣机", "zh16"), ("售后服务", "zh16"), ("噪音", "zh16"),
    ("日出", "zh17"), ("爬山", "zh17"),
    ("人工智能", "zh18"), ("机器学习", "zh18"), ("论文", "zh18"),
    ("停车位", "zh19"), ("物业", "zh19"), ("车位", "zh19"),
    ("火锅", "zh20"), ("麻辣", "zh20"), ("餐厅", "zh20"),
    ("订单号", "zh21"), ("收货地址", "zh21"), ("发货", "zh21"), ("仓库", "zh21"),
    ("开放时间", "zh22"),
    ("护照", "zh23"), ("续签", "zh23"), ("护照过期", "zh23"),
    ("小猫", "zh24"), ("晒太阳", "zh24"),
    ("会議", "ja01"), ("東京本社", "ja01"), ("カメラ", "ja02"), ("紅葉", "ja03"), ("京都", "ja03"),
    ("支払い", "ja04"), ("INV-8812", "ja04"), ("ラーメン", "ja05"), ("傘", "ja06"),
    ("서울", "ko01"), ("회의", "ko01"),
]

# Text in pictures (rendered with a CJK font, read back by PP-OCR): file name -> lines.
IMAGES: dict[str, list[str]] = {
    "仓库通知.png": ["仓库通知", "今天下午安排发货", "编号 WH-2031"],
    "停车场.png": ["地下停车场", "新增五十个车位"],
    "禁烟.png": ["禁止吸烟", "违者罚款二百元"],
    "水果店.png": ["今日特价", "新鲜草莓 每斤十五元"],
    "员工通道.png": ["员工通道", "请刷卡进入"],
    "电梯.png": ["电梯维修中", "请走楼梯"],
    "快递柜.png": ["快递柜", "取件码 8842"],
    "staff_only.png": ["STAFF ONLY", "Badge access after 6 pm"],
    "bakery.png": ["Fresh sourdough", "Baked every morning"],
}

# Speech (espeak-ng; Mandarin long enough for language detection): file name -> what is said.
SPEECH: dict[str, str] = {
    "预算会议录音.wav": "上周五的项目会议纪要已经整理好了，主要讨论了明年的预算分配和人员招聘计划。"
                      "请在月底之前支付发票，金额为三千二百元。",
    "部门例会.wav": "明天上午十点在二号会议室开部门例会，请大家准时参加，并且带上本周的工作总结。",
    "天气提醒.wav": "天气预报说今天晚上有大雨，出门的时候记得带雨伞，开车的朋友注意安全。",
    "新产品.wav": "我们的新产品下个月正式上市，市场部正在准备发布会和宣传材料。",
    "地铁新闻.wav": "欢迎收听今天的新闻，本市的地铁三号线将在年底开通运营，方便市民出行。",
    "standup.wav": "The quarterly budget meeting moves to Thursday afternoon in the large "
                   "conference room on the third floor.",
    "garden.wav": "Remember to water the tomato plants twice a week while we are on holiday.",
}

# Queries for the pictures and the recordings: (query, file name of the one relevant item).
MEDIA_QUERIES: list[tuple[str, str]] = [
    ("发货", "仓库通知.png"), ("WH-2031", "仓库通知.png"), ("车位", "停车场.png"),
    ("禁止吸烟", "禁烟.png"), ("罚款", "禁烟.png"), ("草莓", "水果店.png"), ("特价", "水果店.png"),
    ("员工通道", "员工通道.png"), ("刷卡", "员工通道.png"), ("电梯维修", "电梯.png"),
    ("楼梯", "电梯.png"), ("快递柜", "快递柜.png"), ("取件码", "快递柜.png"),
    ("staff only", "staff_only.png"), ("sourdough", "bakery.png"),
    ("预算分配", "预算会议录音.wav"), ("招聘计划", "预算会议录音.wav"),
    ("部门例会", "部门例会.wav"), ("工作总结", "部门例会.wav"),
    ("雨伞", "天气提醒.wav"), ("大雨", "天气提醒.wav"),
    ("新产品", "新产品.wav"), ("发布会", "新产品.wav"),
    ("地铁", "地铁新闻.wav"), ("三号线", "地铁新闻.wav"),
    ("budget meeting Thursday", "standup.wav"), ("water the tomatoes", "garden.wav"),
]
