// All UI text. zh-CN is the default (Chinese first, DESIGN.md); English is
// available from the header toggle and remembered in localStorage. Keys are
// flat "area.name"; enum labels live under "enum.<name>.<value>", error codes
// from the API under "error.<code>".

export const LANGS = ["zh-CN", "en"];
const DEFAULT = "zh-CN";
const STORAGE_KEY = "anju.lang";

const zh = {
  "app.name": "安居",
  "app.title": "安居 · 智慧平安小区",
  "app.tagline": "智慧平安小区",
  "app.home_label": "安居首页",
  "app.skip": "跳到主要内容",
  "app.signed_in_as": "已登录：{name}，打开我的账户",
  "app.account": "我的账户",
  "app.sign_in": "登录",
  "app.language": "语言 / Language",
  "app.offline": "当前处于离线状态，部分功能暂不可用。",

  "common.loading": "正在加载…",
  "common.error_title": "出错了",
  "common.home": "返回首页",
  "common.list_sep": "、",
  "common.not_found": "页面不存在",
  "common.not_found_text": "这个地址不是安居的页面。请检查链接，或从首页进入。",
  "common.opens_new_window": "在新窗口打开",
  "common.retry": "重试",
  "common.dismiss": "关闭",

  "home.title": "安居 · 智慧平安小区",
  "home.lead": "扫描小区大门、楼栋门、单元门和入户门上的二维码门牌，即可查看标准地址、办理网上警务服务、自主登记居住信息。社区民警、协管员和物业人员登录后可核实登记、管理实有人口。",
  "home.scan": "扫描门牌",
  "home.scan_sub": "用相机或照片识别门牌二维码",
  "home.sign_in": "登录",
  "home.feature_scan_title": "一扫即知：",
  "home.feature_scan": "每块门牌对应一个标准地址和在线服务（办证办照、流动人口自主登记）。",
  "home.feature_register_title": "自主登记：",
  "home.feature_register": "新入住的居民扫描入户门门牌即可登记，经社区核实后生效。",
  "home.feature_staff_title": "分级授权：",
  "home.feature_staff": "工作人员只能看到职责范围内的信息，身份证号码默认脱敏，每次查阅都会留痕。",
  "home.hello": "您好，{name}",
  "home.shortcuts": "常用功能",
  "home.queue": "待核实登记",
  "home.queue_sub": "核实居民自主登记的信息",
  "home.me": "我的账户",
  "home.me_sub": "账户信息、通行密钥、退出登录",

  "metrics.title": "小区指标",
  "metrics.community": "选择小区",
  "metrics.none": "暂无您负责的小区。",
  "metrics.verification_rate": "实有人口核实率",
  "metrics.verified_of": "已核实 {verified} 人，共 {total} 人",
  "metrics.coverage": "二维码门牌覆盖率",
  "metrics.target": "目标 {target}",

  "me.title": "我的账户",
  "me.name": "姓名",
  "me.phone": "手机号码",
  "me.role": "岗位",
  "me.passkey_title": "通行密钥（Passkey）",
  "me.passkey_explain": "通行密钥使用手机的指纹、面容或锁屏密码登录，无需短信验证码，也不会被仿冒网站骗取。",
  "me.passkey_required": "您的岗位（社区民警、区级管理员）必须使用通行密钥。请先在本设备上创建通行密钥，完成后才能使用其他功能。",
  "me.enrol_passkey": "创建通行密钥",
  "me.add_passkey": "再添加一个通行密钥",
  "me.passkey_enrolled": "✓ 已设置通行密钥",
  "me.passkey_done": "通行密钥已创建。",
  "me.continue": "继续",
  "me.sign_out": "退出登录",

  "passkey.unsupported": "此浏览器不支持通行密钥，请使用手机系统浏览器的最新版本。",
  "passkey.cancelled": "已取消，未使用通行密钥。",
  "passkey.already_on_device": "此设备上已有您的通行密钥。",

  "person.relation": "与房主关系",
  "person.gender": "性别",
  "person.birth_date": "出生日期",
  "person.phone": "联系电话",
  "person.id_number": "证件号码",
  "person.key_person": "重点人口",
  "person.key_category": "管理类别",

  "queue.title": "待核实登记",
  "queue.staff_only": "只有社区工作人员可以核实登记。",
  "queue.count": "共 {count} 条待核实",
  "queue.empty": "没有待核实的登记。",
  "queue.community": "小区",
  "queue.address": "地址",
  "queue.registered_at": "登记时间",
  "queue.registered_by": "登记人",
  "queue.by_self": "本人自主登记",
  "queue.verify": "核实通过",
  "queue.reject": "驳回",
  "queue.reject_reason": "驳回 {name} 的登记，请填写原因：",
  "queue.verified": "已核实：{name}",
  "queue.rejected": "已驳回：{name}",

  "register.title_self": "自主登记居住信息",
  "register.title_member": "添加家庭成员",
  "register.title_staff": "登记居住人员",
  "register.for_address": "地址：{address}",
  "register.intro_self": "请如实填写。提交后由社区民警或工作人员核实，核实前状态为“待核实”。",
  "register.intro_member": "添加与您同住的家庭成员，提交后由社区核实。",
  "register.intro_staff": "工作人员登记的信息直接生效（已核实）。",
  "register.not_allowed": "此门牌不能在线登记。请扫描所住房屋入户门上的门牌。",
  "register.back_to_plate": "返回门牌信息",
  "register.choose": "请选择",
  "register.optional": "（选填）",
  "register.section_person": "个人信息",
  "register.section_hukou": "户籍信息",
  "register.section_residence": "居住信息",
  "register.id_hint": "居民身份证号码为 18 位，最后一位可能是 X。填写后自动带出出生日期、性别和户籍地。",
  "register.phone_hint": "11 位手机号码，用于核实时联系。",
  "register.category_hint": "常住：户籍在本址（居住事由自动选“户籍”）；寄住：本市户籍、不在户籍地居住；流动：非本市户籍来此居住。",
  "register.autofilled": "已根据证件号码填写：{fields}",
  "register.submit_self": "提交登记",
  "register.submit_member": "提交",
  "register.submit_staff": "登记",
  "register.done_pending": "已提交，等待核实",
  "register.done_pending_text_self": "社区民警或工作人员核实后，登记即生效。感谢您的配合！",
  "register.done_pending_text_member": "家庭成员信息已提交，核实后将显示为“已核实”。",
  "register.done_verified": "登记成功",
  "register.done_verified_text": "该居住人员已登记并核实。",
  "register.another": "再登记一人",

  "field.name": "姓名",
  "field.id_type": "证件类型",
  "field.id_number": "证件号码",
  "field.gender": "性别",
  "field.birth_date": "出生日期",
  "field.ethnicity": "民族",
  "field.nationality": "国籍（地区）",
  "field.phone": "联系电话",
  "field.hukou_region": "户籍地行政区划",
  "field.hukou_address": "户籍地详细地址",
  "field.residence_category": "人员类别",
  "field.relation": "与房主关系",
  "field.reason": "居住事由",
  "field.start_date": "居住起始日期",

  "validation.required": "此项必填。",
  "validation.phone": "请输入 11 位手机号码（以 1 开头）。",
  "validation.sms_code": "请输入 6 位数字验证码。",
  "validation.id_format": "证件号码应为 18 位：前 17 位是数字，最后一位是数字或 X。",
  "validation.id_birth_date": "证件号码中的出生日期无效。",
  "validation.id_check_digit": "证件号码校验位不对，请核对是否输错。",
  "validation.future_date": "日期不能晚于今天。",
  "validation.birth_date_mismatch": "出生日期与证件号码不一致。",
  "validation.gender_mismatch": "性别与证件号码不一致。",
  "validation.start_before_birth": "居住起始日期不能早于出生日期。",
  "validation.summary": "有 {count} 项需要修改，请查看标出的字段。",
  "validation.reason_required": "请填写原因，原因会记入档案。",

  "scan.title": "门牌信息",
  "scan.unknown_title": "未找到此门牌",
  "scan.scan_again": "重新扫描",
  "scan.community": "小区",
  "scan.street": "街道",
  "scan.police_station": "派出所",
  "scan.floor": "楼层",
  "scan.room_no": "房号",
  "scan.area": "面积",
  "scan.area_value": "{area} 平方米",
  "scan.house_status": "房屋状态",
  "scan.address_code": "标准地址编码",
  "scan.plate_kind": "{kind}门牌",
  "scan.viewing_as": "您正以“{viewer}”身份查看。",
  "scan.self_register": "登记为本户居住人员",
  "scan.add_member": "添加家庭成员",
  "scan.register": "登记居住人员",
  "scan.public_only": "您不是本户居民，也不负责此小区，这里只显示公开信息。",
  "scan.sign_in_hint": "本户居民和社区工作人员请登录后查看更多信息。",
  "scan.sign_in": "登录",
  "scan.services": "网上警务服务",
  "scan.household": "本户成员",
  "scan.residents": "居住人员",
  "scan.no_residents": "暂无登记的居住人员。",
  "scan.deregister": "注销登记",
  "scan.deregister_reason": "注销 {name} 的居住登记，请填写原因：",
  "scan.deregistered": "已注销：{name}",
  "scan.flag_key_person": "标记为重点人口",
  "scan.unflag_key_person": "取消重点人口标记",
  "scan.key_category_prompt": "将 {name} 标记为重点人口，请填写管理类别：",
  "scan.unflag_confirm": "确定取消 {name} 的重点人口标记吗？",
  "scan.flagged": "已标记为重点人口：{name}",
  "scan.unflagged": "已取消重点人口标记：{name}",
  "scan.owners": "房屋产权人",
  "scan.no_owners": "暂无产权人信息。",
  "scan.patrol": "巡查记录",
  "scan.no_patrols": "暂无巡查记录。",

  "scanner.title": "扫描门牌",
  "scanner.lead": "对准门牌上的二维码，或拍一张门牌照片。",
  "scanner.camera_title": "相机扫码",
  "scanner.start_camera": "打开相机扫码",
  "scanner.stop_camera": "关闭相机",
  "scanner.viewfinder": "相机取景",
  "scanner.point_camera": "请把二维码放在取景框内。",
  "scanner.camera_denied": "无法使用相机：没有相机权限。可以改用拍照识别。",
  "scanner.camera_failed": "无法打开相机，可以改用拍照识别。",
  "scanner.not_doorplate": "这不是安居门牌的二维码。",
  "scanner.photo_title": "拍照识别",
  "scanner.photo_title_alt": "或者：拍照识别",
  "scanner.photo_hint": "拍一张清晰的门牌照片，二维码完整即可。",
  "scanner.choose_photo": "拍照或选择照片",
  "scanner.decoding": "正在识别…",
  "scanner.link_label": "或粘贴门牌链接",
  "scanner.open": "打开",

  "signin.title": "登录",
  "signin.already": "您已登录为 {name}。重新登录将切换账户。",
  "signin.phone": "手机号码",
  "signin.phone_hint": "使用在社区登记的手机号码。",
  "signin.send_code": "获取验证码",
  "signin.resend_code": "重新获取",
  "signin.resend_in": "{seconds} 秒后重新获取",
  "signin.code": "短信验证码",
  "signin.code_hint": "6 位数字。",
  "signin.code_sent": "验证码已发送，{minutes} 分钟内有效。",
  "signin.sign_in": "登录",
  "signin.or": "或",
  "signin.passkey": "使用通行密钥登录",
  "signin.passkey_hint": "社区民警和管理人员请使用通行密钥登录。",

  "update.available": "安居有新版本。",
  "update.reload": "刷新",
  "update.open": "查看",

  "enum.role.resident": "居民",
  "enum.role.warden": "协管员",
  "enum.role.property": "物业人员",
  "enum.role.community_worker": "社区工作者",
  "enum.role.police": "社区民警",
  "enum.role.district_admin": "区级管理员",
  "enum.plate_kind.gate": "小区大门",
  "enum.plate_kind.building": "楼栋门",
  "enum.plate_kind.unit": "单元门",
  "enum.plate_kind.house": "入户门",
  "enum.viewer.anonymous": "访客",
  "enum.viewer.resident": "本户居民",
  "enum.viewer.staff": "工作人员",
  "enum.viewer.police": "社区民警",
  "enum.residence_category.permanent": "常住",
  "enum.residence_category.lodger": "寄住",
  "enum.residence_category.floating": "流动",
  "enum.residence_category_long.permanent": "常住人口",
  "enum.residence_category_long.lodger": "寄住人口",
  "enum.residence_category_long.floating": "流动人口",
  "enum.status.pending": "待核实",
  "enum.status.verified": "已核实",
  "enum.status.rejected": "已驳回",
  "enum.status.ended": "已注销",
  "enum.gender.0": "未知",
  "enum.gender.1": "男",
  "enum.gender.2": "女",
  "enum.gender.9": "未说明",
  "enum.house_status.self": "自住",
  "enum.house_status.self_occupied": "自住",
  "enum.house_status.rented": "租住",
  "enum.house_status.vacant": "空置",
  "enum.house_status.occupied": "已入住",
  "enum.house_status.unknown": "未知",
  "enum.coverage.overall": "总体",
  "enum.coverage.gate": "小区大门",
  "enum.coverage.building": "楼栋门",
  "enum.coverage.unit": "单元门",
  "enum.coverage.house": "入户门",
  "enum.tier.demonstration": "示范小区",
  "enum.tier.model": "示范小区",
  "enum.tier.standard": "标准小区",
  "enum.tier.示范": "示范小区",
  "enum.tier.标准": "标准小区",

  "error.network": "网络连接失败，请检查网络后重试。",
  "error.offline": "当前离线，无法连接服务器。",
  "error.unauthorized": "登录已过期，请重新登录。",
  "error.forbidden": "您没有权限执行此操作。",
  "error.not_found": "未找到请求的内容。",
  "error.conflict": "操作与当前状态冲突，请刷新后重试。",
  "error.validation": "提交的内容有误，请检查后重试。",
  "error.too_large": "文件太大，请重新拍摄或选择较小的照片。",
  "error.rate_limited": "操作太频繁，请稍后再试。",
  "error.rate_limited_wait": "操作太频繁，请 {seconds} 秒后再试。",
  "error.server": "服务器暂时出现问题，请稍后再试。",
  "error.unknown": "发生未知错误，请重试。",
  // Codes the API sends in extra.code.
  "error.unknown_plate": "此门牌不存在或已停用。",
  "error.not_a_flat": "只能在所住房屋入户门的门牌上登记。",
  "error.no_code": "照片中没有识别到门牌二维码。请靠近一些，保证二维码完整、清晰后重拍。",
  "error.no_image": "请选择一张照片。",
  "error.unreadable_image": "无法读取这张照片，请换一张。",
  "error.invalid_id_number": "证件号码无效，请核对。",
  "error.id_mismatch": "与证件号码不一致。",
  "error.invalid_phone": "手机号码格式不正确。",
  "error.invalid_name": "姓名应为 1–50 个字。",
  "error.invalid_code": "所选的值不在代码表中，请重新选择。",
  "error.required": "此项必填。",
  "error.future_date": "日期不能晚于今天。",
  "error.already_registered": "此人已在本地址登记。",
  "error.wrong_status": "该登记的状态已变化，请刷新后再试。",
  "error.permanent_resident": "常住人口不能注销。",
  "error.unknown_residency": "该登记不存在或已处理。",
  "error.unknown_person": "该人员不是本地址的现住人员。",
  "error.unknown_community": "小区不存在。",
  "error.unknown_house": "房屋不存在。",
  "error.wrong_code": "验证码不正确。",
  "error.code_expired": "验证码已失效，请重新获取。",
  "error.account_disabled": "此账户已停用，请联系社区。",
  "error.sign_in_required": "请先登录。",
  "error.passkey_required": "您的账户须先设置通行密钥，请到“我的账户”创建。",
  "error.unknown_passkey": "此通行密钥未在安居登记，请先用短信验证码登录并创建通行密钥。",
  "error.invalid_passkey": "通行密钥验证失败，请重试。",
  "error.challenge_expired": "操作超时，请重试。",
  "error.token_expired": "登录已过期，请重新登录。",
  "error.invalid_token": "登录已失效，请重新登录。",
  "error.invalid_refresh_token": "登录已失效，请重新登录。",
};

const en = {
  "app.name": "Anju",
  "app.title": "Anju · Smart Safe Communities",
  "app.tagline": "Smart Safe Communities",
  "app.home_label": "Anju home",
  "app.skip": "Skip to main content",
  "app.signed_in_as": "Signed in as {name}, open my account",
  "app.account": "My account",
  "app.sign_in": "Sign in",
  "app.language": "Language / 语言",
  "app.offline": "You are offline; some features are unavailable.",

  "common.loading": "Loading…",
  "common.error_title": "Something went wrong",
  "common.home": "Back to home",
  "common.list_sep": ", ",
  "common.not_found": "Page not found",
  "common.not_found_text": "This address is not an Anju page. Check the link, or start from the home page.",
  "common.opens_new_window": "opens in a new window",
  "common.retry": "Try again",
  "common.dismiss": "Dismiss",

  "home.title": "Anju · Smart Safe Communities",
  "home.lead": "Scan the QR doorplate on a community gate, building, unit or flat door to see its standard address, use online police services and register as a resident yourself. Community police, wardens and property staff sign in to verify registrations and keep the registry up to date.",
  "home.scan": "Scan a doorplate",
  "home.scan_sub": "Read a doorplate QR code with the camera or a photo",
  "home.sign_in": "Sign in",
  "home.feature_scan_title": "One scan:",
  "home.feature_scan": "every doorplate leads to a standard address and online services (ID and licence services, floating population self-registration).",
  "home.feature_register_title": "Self-registration:",
  "home.feature_register": "new residents scan their flat's doorplate to register; it takes effect once the community verifies it.",
  "home.feature_staff_title": "Need to know:",
  "home.feature_staff": "staff see only their own communities, ID numbers are masked by default, and every look-up is recorded.",
  "home.hello": "Hello, {name}",
  "home.shortcuts": "Shortcuts",
  "home.queue": "Pending registrations",
  "home.queue_sub": "Verify residents' self-registrations",
  "home.me": "My account",
  "home.me_sub": "Account details, passkeys, sign out",

  "metrics.title": "Community metrics",
  "metrics.community": "Community",
  "metrics.none": "You are not assigned to any community yet.",
  "metrics.verification_rate": "Residents verified",
  "metrics.verified_of": "{verified} of {total} verified",
  "metrics.coverage": "QR doorplate coverage",
  "metrics.target": "target {target}",

  "me.title": "My account",
  "me.name": "Name",
  "me.phone": "Phone",
  "me.role": "Role",
  "me.passkey_title": "Passkeys",
  "me.passkey_explain": "A passkey signs you in with your phone's fingerprint, face or screen lock: no SMS code, and it cannot be phished by a fake site.",
  "me.passkey_required": "Your role (community police, district admin) requires a passkey. Create one on this device first; nothing else is available until you do.",
  "me.enrol_passkey": "Create a passkey",
  "me.add_passkey": "Add another passkey",
  "me.passkey_enrolled": "✓ Passkey set up",
  "me.passkey_done": "Your passkey has been created.",
  "me.continue": "Continue",
  "me.sign_out": "Sign out",

  "passkey.unsupported": "This browser does not support passkeys. Please use an up-to-date version of your phone's own browser.",
  "passkey.cancelled": "Cancelled: no passkey was used.",
  "passkey.already_on_device": "This device already has one of your passkeys.",

  "person.relation": "Relation to owner",
  "person.gender": "Gender",
  "person.birth_date": "Date of birth",
  "person.phone": "Phone",
  "person.id_number": "ID number",
  "person.key_person": "Key person",
  "person.key_category": "Management category",

  "queue.title": "Pending registrations",
  "queue.staff_only": "Only community staff can verify registrations.",
  "queue.count": "{count} waiting for verification",
  "queue.empty": "Nothing is waiting for verification.",
  "queue.community": "Community",
  "queue.address": "Address",
  "queue.registered_at": "Registered",
  "queue.registered_by": "Registered by",
  "queue.by_self": "Self-registered",
  "queue.verify": "Verify",
  "queue.reject": "Reject",
  "queue.reject_reason": "Reject the registration of {name}. Reason:",
  "queue.verified": "Verified: {name}",
  "queue.rejected": "Rejected: {name}",

  "register.title_self": "Register as a resident",
  "register.title_member": "Add a household member",
  "register.title_staff": "Register a resident",
  "register.for_address": "Address: {address}",
  "register.intro_self": "Please fill this in truthfully. Community police or staff will verify it; until then it shows as pending.",
  "register.intro_member": "Add a family member who lives with you. The community will verify it.",
  "register.intro_staff": "Registrations made by staff take effect at once (verified).",
  "register.not_allowed": "This doorplate does not take registrations. Please scan the plate on your flat's own door.",
  "register.back_to_plate": "Back to the doorplate",
  "register.choose": "Please choose",
  "register.optional": "(optional)",
  "register.section_person": "Personal details",
  "register.section_hukou": "Household registration (hukou)",
  "register.section_residence": "Residence",
  "register.id_hint": "A resident ID number has 18 characters; the last may be X. Date of birth, gender and hukou region are filled in from it.",
  "register.phone_hint": "11-digit mobile number, used to contact you for verification.",
  "register.category_hint": "Permanent: hukou at this address (the reason is set to “hukou”). Lodger: Wuhan hukou, living away from it. Floating: hukou outside Wuhan.",
  "register.autofilled": "Filled in from the ID number: {fields}",
  "register.submit_self": "Submit registration",
  "register.submit_member": "Submit",
  "register.submit_staff": "Register",
  "register.done_pending": "Submitted, awaiting verification",
  "register.done_pending_text_self": "The registration takes effect once community police or staff have verified it. Thank you!",
  "register.done_pending_text_member": "The household member has been submitted and will show as verified once checked.",
  "register.done_verified": "Registered",
  "register.done_verified_text": "The resident has been registered and verified.",
  "register.another": "Register someone else",

  "field.name": "Name",
  "field.id_type": "ID type",
  "field.id_number": "ID number",
  "field.gender": "Gender",
  "field.birth_date": "Date of birth",
  "field.ethnicity": "Ethnicity",
  "field.nationality": "Nationality (region)",
  "field.phone": "Phone",
  "field.hukou_region": "Hukou region",
  "field.hukou_address": "Hukou address",
  "field.residence_category": "Resident category",
  "field.relation": "Relation to the owner",
  "field.reason": "Reason for living here",
  "field.start_date": "Living here since",

  "validation.required": "This field is required.",
  "validation.phone": "Enter an 11-digit mobile number starting with 1.",
  "validation.sms_code": "Enter the 6-digit code.",
  "validation.id_format": "An ID number has 18 characters: 17 digits, then a digit or X.",
  "validation.id_birth_date": "The date of birth in this ID number is not valid.",
  "validation.id_check_digit": "The check character does not match: please look for a typo.",
  "validation.future_date": "The date cannot be in the future.",
  "validation.birth_date_mismatch": "The date of birth does not match the ID number.",
  "validation.gender_mismatch": "The gender does not match the ID number.",
  "validation.start_before_birth": "This date cannot be before the date of birth.",
  "validation.summary": "{count} fields need attention; see the marked fields.",
  "validation.reason_required": "Please give a reason; it goes on the record.",

  "scan.title": "Doorplate",
  "scan.unknown_title": "Doorplate not found",
  "scan.scan_again": "Scan again",
  "scan.community": "Community",
  "scan.street": "Street",
  "scan.police_station": "Police station",
  "scan.floor": "Floor",
  "scan.room_no": "Room",
  "scan.area": "Area",
  "scan.area_value": "{area} m²",
  "scan.house_status": "Occupancy",
  "scan.address_code": "Standard address code",
  "scan.plate_kind": "{kind} doorplate",
  "scan.viewing_as": "You are viewing as: {viewer}.",
  "scan.self_register": "Register as a resident of this flat",
  "scan.add_member": "Add a household member",
  "scan.register": "Register a resident",
  "scan.public_only": "You are not a resident here nor assigned to this community, so only public information is shown.",
  "scan.sign_in_hint": "Residents of this flat and community staff: sign in to see more.",
  "scan.sign_in": "Sign in",
  "scan.services": "Online police services",
  "scan.household": "My household",
  "scan.residents": "Residents",
  "scan.no_residents": "No residents registered.",
  "scan.deregister": "Deregister",
  "scan.deregister_reason": "Deregister {name} from this address. Reason:",
  "scan.deregistered": "Deregistered: {name}",
  "scan.flag_key_person": "Flag as key person",
  "scan.unflag_key_person": "Remove key person flag",
  "scan.key_category_prompt": "Flag {name} as a key person. Management category:",
  "scan.unflag_confirm": "Remove the key person flag from {name}?",
  "scan.flagged": "Flagged as key person: {name}",
  "scan.unflagged": "Key person flag removed: {name}",
  "scan.owners": "Owners",
  "scan.no_owners": "No owner on record.",
  "scan.patrol": "Patrol records",
  "scan.no_patrols": "No patrol records.",

  "scanner.title": "Scan a doorplate",
  "scanner.lead": "Point the camera at the doorplate's QR code, or take a photo of the plate.",
  "scanner.camera_title": "Camera",
  "scanner.start_camera": "Scan with the camera",
  "scanner.stop_camera": "Stop the camera",
  "scanner.viewfinder": "Camera view",
  "scanner.point_camera": "Hold the QR code inside the frame.",
  "scanner.camera_denied": "The camera is not allowed. You can take a photo instead.",
  "scanner.camera_failed": "The camera could not be started. You can take a photo instead.",
  "scanner.not_doorplate": "This is not an Anju doorplate code.",
  "scanner.photo_title": "From a photo",
  "scanner.photo_title_alt": "Or: from a photo",
  "scanner.photo_hint": "Take a sharp photo of the doorplate with the whole QR code in it.",
  "scanner.choose_photo": "Take or choose a photo",
  "scanner.decoding": "Reading the code…",
  "scanner.link_label": "Or paste a doorplate link",
  "scanner.open": "Open",

  "signin.title": "Sign in",
  "signin.already": "You are signed in as {name}. Signing in again switches account.",
  "signin.phone": "Mobile number",
  "signin.phone_hint": "The number registered with your community.",
  "signin.send_code": "Send code",
  "signin.resend_code": "Send again",
  "signin.resend_in": "Send again in {seconds}s",
  "signin.code": "SMS code",
  "signin.code_hint": "6 digits.",
  "signin.code_sent": "Code sent. It is valid for {minutes} min.",
  "signin.sign_in": "Sign in",
  "signin.or": "or",
  "signin.passkey": "Sign in with a passkey",
  "signin.passkey_hint": "Community police and administrators sign in with a passkey.",

  "update.available": "A new version of Anju is available.",
  "update.reload": "Reload",
  "update.open": "Open",

  "enum.role.resident": "Resident",
  "enum.role.warden": "Warden",
  "enum.role.property": "Property staff",
  "enum.role.community_worker": "Community worker",
  "enum.role.police": "Community police",
  "enum.role.district_admin": "District administrator",
  "enum.plate_kind.gate": "Community gate",
  "enum.plate_kind.building": "Building door",
  "enum.plate_kind.unit": "Unit door",
  "enum.plate_kind.house": "Flat door",
  "enum.viewer.anonymous": "visitor",
  "enum.viewer.resident": "resident of this flat",
  "enum.viewer.staff": "community staff",
  "enum.viewer.police": "community police",
  "enum.residence_category.permanent": "Permanent",
  "enum.residence_category.lodger": "Lodger",
  "enum.residence_category.floating": "Floating",
  "enum.residence_category_long.permanent": "Permanent resident (常住)",
  "enum.residence_category_long.lodger": "Lodger (寄住)",
  "enum.residence_category_long.floating": "Floating population (流动)",
  "enum.status.pending": "Pending",
  "enum.status.verified": "Verified",
  "enum.status.rejected": "Rejected",
  "enum.status.ended": "Deregistered",
  "enum.gender.0": "Unknown",
  "enum.gender.1": "Male",
  "enum.gender.2": "Female",
  "enum.gender.9": "Not stated",
  "enum.house_status.self": "Owner-occupied",
  "enum.house_status.self_occupied": "Owner-occupied",
  "enum.house_status.rented": "Rented",
  "enum.house_status.vacant": "Vacant",
  "enum.house_status.occupied": "Occupied",
  "enum.house_status.unknown": "Unknown",
  "enum.coverage.overall": "Overall",
  "enum.coverage.gate": "Gates",
  "enum.coverage.building": "Buildings",
  "enum.coverage.unit": "Units",
  "enum.coverage.house": "Flats",
  "enum.tier.demonstration": "Model community",
  "enum.tier.model": "Model community",
  "enum.tier.standard": "Standard community",
  "enum.tier.示范": "Model community",
  "enum.tier.标准": "Standard community",

  "error.network": "Could not reach the server. Check your connection and try again.",
  "error.offline": "You are offline; the server cannot be reached.",
  "error.unauthorized": "Your session has expired. Please sign in again.",
  "error.forbidden": "You are not allowed to do this.",
  "error.not_found": "Not found.",
  "error.conflict": "This conflicts with the current state. Reload and try again.",
  "error.validation": "Some of the data is not valid. Please check and try again.",
  "error.too_large": "The file is too large. Take the photo again or choose a smaller one.",
  "error.rate_limited": "Too many requests. Please try again shortly.",
  "error.rate_limited_wait": "Too many requests. Please try again in {seconds} s.",
  "error.server": "The server has a problem. Please try again later.",
  "error.unknown": "Something went wrong. Please try again.",
  "error.unknown_plate": "This doorplate does not exist or has been withdrawn.",
  "error.not_a_flat": "Registration is only possible at a flat's own doorplate.",
  "error.no_code": "No doorplate code was found in the photo. Move closer so the whole code is sharp, and try again.",
  "error.no_image": "Please choose a photo.",
  "error.unreadable_image": "This photo cannot be read. Please try another one.",
  "error.invalid_id_number": "The ID number is not valid. Please check it.",
  "error.id_mismatch": "Does not match the ID number.",
  "error.invalid_phone": "The phone number is not valid.",
  "error.invalid_name": "The name must be 1–50 characters.",
  "error.invalid_code": "This value is not in the code list; please choose again.",
  "error.required": "This field is required.",
  "error.future_date": "The date cannot be in the future.",
  "error.already_registered": "This person is already registered at this address.",
  "error.wrong_status": "This registration has changed meanwhile. Reload and try again.",
  "error.permanent_resident": "Permanent residents cannot be deregistered.",
  "error.unknown_residency": "This registration does not exist or was already handled.",
  "error.unknown_person": "This person is not a current resident here.",
  "error.unknown_community": "No such community.",
  "error.unknown_house": "No such flat.",
  "error.wrong_code": "The code is not correct.",
  "error.code_expired": "The code is no longer valid. Please request a new one.",
  "error.account_disabled": "This account is disabled. Please contact your community.",
  "error.sign_in_required": "Please sign in first.",
  "error.passkey_required": "Your account needs a passkey first: create one under My account.",
  "error.unknown_passkey": "This passkey is not registered with Anju. Sign in with an SMS code and create one first.",
  "error.invalid_passkey": "The passkey could not be verified. Please try again.",
  "error.challenge_expired": "That took too long. Please try again.",
  "error.token_expired": "Your session has expired. Please sign in again.",
  "error.invalid_token": "Your session is no longer valid. Please sign in again.",
  "error.invalid_refresh_token": "Your session is no longer valid. Please sign in again.",
};

export const DICTIONARIES = { "zh-CN": zh, en };

let lang = (() => {
  try {
    const saved = typeof localStorage !== "undefined" ? localStorage.getItem(STORAGE_KEY) : null;
    return LANGS.includes(saved) ? saved : DEFAULT;
  } catch {
    return DEFAULT;
  }
})();

export function getLang() {
  return lang;
}

export function setLang(next) {
  if (!LANGS.includes(next)) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    /* not persisted: fine for this page */
  }
}

/** Translate a key; {name} placeholders are filled from params. Unknown keys show as the key. */
export function t(key, params) {
  const text = DICTIONARIES[lang][key] ?? DICTIONARIES[DEFAULT][key] ?? key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (params[name] != null ? String(params[name]) : m));
}

export function has(key) {
  return key in DICTIONARIES[lang] || key in DICTIONARIES[DEFAULT];
}

/** Label for an enum value (role, plate_kind, viewer, residence_category, status…); the raw value if unknown. */
export function label(kind, value) {
  if (value == null || value === "") return "";
  const key = `enum.${kind}.${value}`;
  return has(key) ? t(key) : String(value);
}

/** The message key for an API error code, or null when we have none. */
export function errorKeyFor(code) {
  return code && has(`error.${code}`) ? `error.${code}` : null;
}

/**
 * Words for any error: our own message for a known code, else the server's
 * `detail`, else a generic message for the HTTP status.
 */
export function errorMessage(err) {
  if (!err) return t("error.unknown");
  if (err.name === "ApiError") {
    if (err.code === "rate_limited" || err.status === 429) {
      return err.retryAfter ? t("error.rate_limited_wait", { seconds: err.retryAfter }) : t("error.rate_limited");
    }
    const key = errorKeyFor(err.code);
    if (key) return t(key);
    if (err.message) return err.message;
    return t(statusKey(err.status));
  }
  if (err.name === "NotAllowedError") return t("passkey.cancelled");
  return t("error.unknown");
}

function statusKey(status) {
  if (status === 0) return typeof navigator !== "undefined" && navigator.onLine === false ? "error.offline" : "error.network";
  if (status === 401) return "error.unauthorized";
  if (status === 403) return "error.forbidden";
  if (status === 404) return "error.not_found";
  if (status === 409) return "error.conflict";
  if (status === 413) return "error.too_large";
  if (status === 400 || status === 422) return "error.validation";
  if (status >= 500) return "error.server";
  return "error.unknown";
}

// --- formatting ---------------------------------------------------------------

/** "2024-05-01T08:30:00+08:00" → locale date and time; unparseable input is shown as is. */
export function formatDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso ?? "");
  // Records are Wuhan events: show Beijing time whatever the device's zone.
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Shanghai" }).format(d);
}

/** "1990-03-07" → locale date, without a time-zone shift (it is a calendar date). */
export function formatDate(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(String(value ?? ""));
  if (!m) return String(value ?? "");
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeZone: "UTC" }).format(d);
}

export function formatPercent(fraction) {
  return new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 1 }).format(Number(fraction) || 0);
}
