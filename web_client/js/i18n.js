// zh-CN first, English second. Every string a person reads lives here.
// Static markup: data-i18n="key" (textContent), data-i18n-placeholder, data-i18n-aria-label,
// data-i18n-title. Code: t('key', {name: '小林'}).
// A translation table: longer than the ~400 lines a module of code keeps to, on purpose
// (one place per page for every string; splitting it would only scatter them).

const LANG_KEY = 'yz.lang';

const zh = {
  // ---- shared ----
  'brand': '驿站',
  'brand.sub': '职工心理咨询',
  'lang.toggle': 'EN',
  'lang.toggle.aria': 'Switch to English',
  'close': '关闭',
  'back': '返回',
  'cancel': '取消',
  'retry': '再试一次',
  'loading': '正在打开…',
  'dur.lt1': '不到 1 分钟',
  'dur.min': '{n} 分钟',
  'dur.hmin': '{h} 小时 {m} 分钟',
  'when.today': '今天 {t}',
  'when.tomorrow': '明天 {t}',
  'when.date': '{m} 月 {d} 日 {t}',
  'hours.daily': '每天 {open}–{close}',
  'hours.24': '24 小时',
  'conn.connecting': '正在连接…',
  'conn.ready': '已连接',
  'conn.reconnecting': '网络不稳，正在重新连接…',
  'conn.offline': '没有网络',
  'err.generic': '出了点问题，请稍后再试。',
  'err.network': '网络好像断了，请检查后再试。',
  'err.rate': '操作太频繁了，请 {n} 秒后再试。',

  // ---- worker: header, exit, hotlines ----
  'w.title': '驿站 · 职工心理咨询',
  'w.hotline': '热线',
  'w.hotline.aria': '查看 24 小时求助热线',
  'w.exit': '快速离开',
  'w.exit.aria': '快速离开：马上关闭本页，并清除这台手机上的记录',
  'hl.title': '24 小时热线',
  'hl.lead': '如果你现在很难受，或者担心自己、别人的安全，请直接打电话。',
  'hl.call': '拨打 {phone}',
  'hl.emergency': '有生命危险时，请立刻拨打 120 或 110。',

  // ---- worker: banner ----
  'w.banner.reconnecting': '网络不稳，正在重新连接…',
  'w.banner.offline': '没有网络。连上后会自动继续，你写的话不会丢。',
  'w.banner.back': '已重新连上',

  // ---- worker: welcome ----
  'w.welcome.title': '累了，就来驿站歇一歇',
  'w.welcome.lead': '这里有受过专业训练的心理咨询师，一对一陪你聊聊工作和生活里的事。',
  'w.welcome.free': '免费',
  'w.welcome.free.d': '不收任何费用',
  'w.welcome.private': '保密',
  'w.welcome.private.d': '对话加密保存',
  'w.welcome.anon': '匿名',
  'w.welcome.anon.d': '咨询师看不到你的名字和证件号',
  'w.welcome.trained': '专业',
  'w.welcome.trained.d': '咨询师都受过专业训练',
  'w.status.open': '现在可以咨询',
  'w.status.open.wait': '现在可以咨询，大约等待 {wait}',
  'w.status.open.none': '现在开放，但暂时没有咨询师在线',
  'w.status.closed': '现在休息中，{next} 开始',
  'w.status.unknown': '暂时查不到服务状态，热线不受影响',
  'w.status.hours': '服务时间：{hours}',
  'w.welcome.start': '开始',
  'w.welcome.later': '不在服务时间',
  'w.urgent.title': '需要马上帮助？',
  'w.urgent.body': '24 小时热线，随时有人接听',

  // ---- worker: consent ----
  'w.consent.title': '开始之前',
  'w.consent.stored.t': '保存什么',
  'w.consent.stored': '对话内容加密保存，不保存你的名字。证件号只留下一串无法还原的代码。',
  'w.consent.who.t': '谁能看到',
  'w.consent.who': '只有你的咨询师。只有在有人的安全受到威胁时，督导才会查看。',
  'w.consent.limits.t': '保密的边界',
  'w.consent.limits': '如果你或别人有生命危险，我们会联系紧急援助，这时可能需要打破保密。',
  'w.consent.more': '了解更多',
  'w.consent.more.1': '对话结束后，记录按规定期限保存，到期后彻底销毁，无法恢复。',
  'w.consent.more.2': '咨询师会写一份简短的工作记录，同样加密保存。工作人员每次查看都会留下记录。',
  'w.consent.more.3': '对话结束后，你可以给这次对话打分，帮助我们改进。打分不会影响你以后的咨询。',
  'w.consent.more.4': '右上角的“快速离开”会马上关闭本页，并清除这台手机上的痕迹。',
  'w.consent.more.5': '这里不是急救服务。遇到紧急危险，请拨打 120 或 110。',
  'w.consent.check': '我已了解，同意开始',
  'w.consent.next': '下一步',
  'w.consent.need': '请先勾选同意',

  // ---- worker: sign in ----
  'w.signin.title': '确认身份',
  'w.signin.label': '身份证号或工会会员卡号',
  'w.signin.hint': '号码只用来确认你可以使用这项服务，咨询师永远看不到。',
  'w.signin.x': '输入 X',
  'w.signin.x.aria': '在末尾输入字母 X',
  'w.signin.ok': '格式正确',
  'w.signin.err.empty': '请输入号码',
  'w.signin.err.bad_length': '位数不对：身份证号是 18 位，会员卡号是 16 到 19 位。',
  'w.signin.err.bad_characters': '只能输入数字，身份证号最后一位可以是 X。',
  'w.signin.err.bad_checksum': '号码好像有一位输错了，请再核对一下。',
  'w.signin.err.bad_date': '身份证号里的出生日期不对，请再核对一下。',
  'w.signin.history': '查看以前的对话',
  'w.signin.pin.label': '8 位恢复码',
  'w.signin.pin.hint': '如果你以前拿到过恢复码，输入后可以看到以前的对话。没有就不用填。',
  'w.signin.pin.err': '恢复码是 8 位数字。',
  'w.signin.submit': '进入',
  'w.signin.submitting': '正在确认…',
  'w.signin.err.pin': '恢复码不对。你可以再试一次，或者不填，直接开始新的对话。',
  'w.signin.nopin': '不用恢复码继续',
  'w.signin.err.consent': '服务说明刚刚更新了，请再看一遍。',
  'w.signin.expired': '为了你的安全，需要重新确认一下身份。',

  // ---- worker: ready ----
  'w.ready.title': '你好',
  'w.ready.alias': '在这里，咨询师会叫你“{alias}”。',
  'w.ready.body': '准备好了就点下面的按钮，我们会为你安排一位咨询师。',
  'w.ready.request': '找咨询师聊聊',
  'w.ready.history': '以前的对话',
  'w.ready.none': '现在暂时没有咨询师在线。你仍然可以排队，也可以先打热线。',

  // ---- worker: waiting ----
  'w.wait.title': '正在为你安排咨询师',
  'w.wait.position': '前面还有 {n} 人',
  'w.wait.next': '下一位就是你',
  'w.wait.eta': '大约等待 {wait}',
  'w.wait.eta.soon': '马上就好',
  'w.wait.none': '现在暂时没有咨询师在线，我们说不准要等多久。你可以继续等，也可以先拨打下面的热线，那里 24 小时有人接听。',
  'w.wait.expect': '接通后，咨询师会先和你打招呼。想说什么都可以，慢慢说。',
  'w.wait.keep': '可以切到别的应用，你的位置会保留一分钟。',
  'w.wait.draft.label': '先写下想说的（可以不写）',
  'w.wait.draft.hint': '接通后会自动发给咨询师。',
  'w.wait.draft.ph': '比如：最近总是睡不好……',
  'w.wait.leave': '不等了',
  'w.wait.leave.title': '确定不等了吗？',
  'w.wait.leave.body': '你的位置会让给别人。想聊的时候随时可以再来。',
  'w.wait.leave.confirm': '不等了',
  'w.wait.leave.cancel': '继续等',

  // ---- worker: chat ----
  'w.chat.counselor': '咨询师 {name}',
  'w.chat.connecting': '正在接通…',
  'w.chat.log': '对话内容',
  'w.chat.input.label': '输入消息',
  'w.chat.ph': '在这里输入…',
  'w.chat.send': '发送',
  'w.chat.end': '结束',
  'w.chat.end.title': '结束这次对话吗？',
  'w.chat.end.body': '结束后就不能在这里接着聊了。你随时可以再来。',
  'w.chat.end.confirm': '结束对话',
  'w.chat.end.cancel': '继续聊',
  'w.chat.typing': '{name} 正在输入…',
  'w.chat.you': '你',
  'w.chat.sending': '发送中',
  'w.chat.sent': '已发送',
  'w.chat.read': '已读',
  'w.chat.failed': '没发出去，点一下重发',
  'w.chat.matched': '{name} 来了，你们可以开始聊了。',
  'w.chat.away': '咨询师的网络断了，正在等待重新连上。你写的话会保留。',
  'w.chat.back': '咨询师回来了。',
  'w.chat.requeue': '正在为你安排另一位咨询师，之前的对话会保留。',
  'w.chat.requeue.pos': '正在为你安排另一位咨询师（前面还有 {n} 人）。',
  'w.chat.ended.counselor': '咨询师结束了这次对话。',
  'w.chat.toolong': '一次最多 2000 字，可以分几次发。',
  'w.chat.closed': '这次对话已经结束。',
  'w.chat.supervisor': '督导',
  'w.chat.system': '驿站',

  // ---- worker: after ----
  'w.after.title': '谢谢你来聊',
  'w.after.body': '说出来并不容易。今天你已经迈出了一步。',
  'w.after.rate': '这次聊得怎么样？',
  'w.after.star': '{n} 星',
  'w.after.star.1': '不太好',
  'w.after.star.5': '很有帮助',
  'w.after.comment': '想对我们说点什么（可以不写）',
  'w.after.submit': '提交',
  'w.after.thanks': '收到了，谢谢你。',
  'w.after.need': '请先选一个星级。',
  'w.after.err': '没提交成功，请再试一次。',
  'w.after.done': '这次对话已经评过了，谢谢你。',
  'w.after.again': '再聊一次',
  'w.after.pin.title': '想以后回看这次对话？',
  'w.after.pin.body': '我们可以给你一个 8 位恢复码。换了手机时，用证件号加恢复码登录，就能看到以前的对话。别人就算知道你的证件号，没有恢复码也看不到。',
  'w.after.pin.replace': '再生成一个，以前的恢复码就不能用了。',
  'w.after.pin.submit': '生成恢复码',
  'w.after.pin.ok': '这是你的恢复码，只显示这一次。请现在把它抄在纸上收好，不要拍照或发给别人。丢了也没关系：可以在下次对话后再生成一个。',
  'w.after.pin.locked': '这台手机上还没有对话，暂时不能生成恢复码。',
  'w.selfhelp.title': '现在可以自己试试',
  'w.selfhelp.1': '慢慢呼吸：吸气数 4 下，停 4 下，呼气数 6 下，做 5 次。',
  'w.selfhelp.2': '喝口温水，找个地方坐下，感觉双脚踩在地上。',
  'w.selfhelp.3': '给一个信得过的人发条消息，不用说很多。',
  'w.selfhelp.4': '今晚尽量早点休息。很多事，睡一觉再想会不一样。',

  // ---- worker: closed / error / history ----
  'w.closed.title': '现在是休息时间',
  'w.closed.next': '咨询师 {next} 上线。',
  'w.closed.hours': '服务时间：{hours}',
  'w.closed.urgent': '现在就需要有人听你说？下面的热线 24 小时有人接听。',
  'w.closed.refresh': '再看一下',
  'w.error.title': '暂时连不上',
  'w.error.body': '可能是网络不好，也可能是我们的服务出了点问题。热线不受影响，随时可以拨打。',
  'w.history.title': '以前的对话',
  'w.history.empty': '这里还没有以前的对话。',
  'w.history.locked': '需要密码，或者用以前登录过的手机，才能查看以前的对话。',
  'w.history.with': '和 {name} 的对话',
  'w.history.open': '进行中',

  // ---- staff: shared ----
  's.signin.title': '工作人员登录',
  's.signin.user': '用户名',
  's.signin.pass': '密码',
  's.signin.submit': '登录',
  's.signin.err': '用户名或密码不对。',
  's.signout': '退出登录',
  's.risk.none': '无风险',
  's.risk.watch': '关注',
  's.risk.high': '高风险',
  's.risk.imminent': '紧急',
  's.unauthorized': '登录已失效，请重新登录。',

  // ---- counselor ----
  'c.title': '驿站 · 咨询师工作台',
  'c.duty.on': '在岗',
  'c.duty.off': '离岗',
  'c.duty.draining': '正在收尾',
  'c.duty.label': '接待状态',
  'c.capacity': '接待 {load}/{cap}',
  'c.capacity.label': '同时接待几位',
  'c.queue': '排队 {n} 人',
  'c.queue.longest': '最久 {wait}',
  'c.convs': '对话',
  'c.convs.empty.off': '你现在是离岗状态。点上方的“离岗”切换为在岗，开始接待。',
  'c.convs.empty.on': '正在等待职工接入。有人接入时会出现在这里。',
  'c.tab.waiting': '已接入 {t}',
  'c.tab.last': '最后消息 {t}',
  'c.tab.unread': '{n} 条未读',
  'c.tab.ended': '待写记录',
  'c.tab.away': '对方已断开',
  'c.chat.none': '选择左侧的一个对话开始。',
  'c.chat.input.label': '回复',
  'c.chat.ph': '输入回复，Enter 发送，Shift+Enter 换行',
  'c.chat.send': '发送',
  'c.chat.end': '结束对话',
  'c.chat.end.title': '结束这次对话？',
  'c.chat.end.body': '职工会看到对话已结束，并被邀请评分。',
  'c.chat.end.confirm': '结束',
  'c.chat.worker_away': '职工的网络断开了，正在等待重新连上。',
  'c.chat.worker_back': '职工回来了。',
  'c.chat.handover': '这是一次转接：之前的消息来自另一位咨询师。',
  'c.chat.ended': '对话已结束。',
  'c.chat.typing': '对方正在输入…',
  'c.from.worker': '职工',
  'c.from.counselor': '你',
  'c.from.previous': '前任咨询师',
  'c.from.supervisor': '督导',
  'c.from.system': '系统',
  'c.panel': '本次对话',
  'c.risk': '风险等级',
  'c.flag': '标记风险，通知督导',
  'c.flag.level': '风险等级',
  'c.flag.reason': '原因（只给督导看）',
  'c.flag.send': '发送标记',
  'c.flag.sent': '已通知督导。',
  'c.flag.unsupported': '标记功能尚未接入。请直接联系值班督导。',
  'c.flag.hint': '发现自伤、自杀或暴力风险时使用。',
  'c.notes': '随手记',
  'c.notes.hint': '只保存在本页，结束后请写入记录。',
  'c.whispers': '督导悄悄话',
  'c.whispers.hint': '只有你能看到，不会发给职工。',
  'c.whispers.empty': '暂无。',
  'c.referral': '转介目录',
  'c.referral.hint': '完整的转介目录即将接入。常用热线：',
  'c.note.title': '写对话记录',
  'c.note.lead': '写完记录再接待下一位。记录加密保存。',
  'c.note.topics': '话题',
  'c.note.risk': '风险等级',
  'c.note.text': '记录',
  'c.note.submit': '保存记录',
  'c.note.saved': '记录已保存。',
  'c.note.pause': '休息一下（暂停接待）',
  'c.note.continue': '继续接待',
  'c.note.err': '保存失败，请再试一次。内容还在。',
  'c.topic.work': '工作压力',
  'c.topic.sleep': '睡眠',
  'c.topic.family': '家庭',
  'c.topic.relation': '人际关系',
  'c.topic.wage': '工资待遇',
  'c.topic.injury': '工伤与健康',
  'c.topic.mood': '情绪低落',
  'c.topic.anxiety': '焦虑',
  'c.topic.other': '其他',
  'c.err.service_closed': '现在不在服务时间，不能上岗。',
  'c.err.not_on_duty': '需要先切换为在岗。',
  'c.err.conversation_closed': '这个对话已经结束。',
  'c.err.failed': '没发出去，点一下重发',

  // ---- supervisor ----
  'v.title': '驿站 · 督导看板',
  'v.escalations': '风险升级',
  'v.escalations.empty': '现在没有需要处理的升级。',
  'v.esc.deadline': '{t} 内确认',
  'v.esc.overdue': '已超时，未确认',
  'v.queue': '排队',
  'v.queue.length': '排队人数',
  'v.queue.longest': '最长等待',
  'v.queue.eta': '预计等待',
  'v.service': '服务状态',
  'v.service.open': '开放中，{close} 停止接入',
  'v.service.closed': '休息中，{next} 开放',
  'v.counselors': '在岗咨询师',
  'v.counselors.count': '{n} 人在岗',
  'v.counselors.detail': '每位咨询师的接待量待接入。',
  'v.counselors.empty': '现在没有咨询师在岗。',
  'v.risk': '对话风险分布',
  'v.followups': '今天要跟进',
  'v.followups.empty': '今天没有要跟进的事项。',
  'v.ratings': '评分',
  'v.ratings.empty': '还没有评分数据。',
  'v.sound.on': '提示音：开',
  'v.sound.off': '提示音：关',
  'v.updated': '更新于 {t}',
  'v.stale': '数据可能过时：{t} 后未更新',
  'v.not_supervisor': '这个账号不是督导，不能查看看板。',
};

const en = {
  'brand': 'Yizhan',
  'brand.sub': 'Counseling for workers',
  'lang.toggle': '中文',
  'lang.toggle.aria': '切换到中文',
  'close': 'Close',
  'back': 'Back',
  'cancel': 'Cancel',
  'retry': 'Try again',
  'loading': 'Opening…',
  'dur.lt1': 'under a minute',
  'dur.min': '{n} min',
  'dur.hmin': '{h} h {m} min',
  'when.today': 'today at {t}',
  'when.tomorrow': 'tomorrow at {t}',
  'when.date': '{m}/{d} at {t}',
  'hours.daily': 'daily {open}–{close}',
  'hours.24': '24 hours',
  'conn.connecting': 'Connecting…',
  'conn.ready': 'Connected',
  'conn.reconnecting': 'Weak connection. Reconnecting…',
  'conn.offline': 'Offline',
  'err.generic': 'Something went wrong. Please try again shortly.',
  'err.network': 'The network seems to be down. Please check and try again.',
  'err.rate': 'Too many tries. Please wait {n} seconds.',

  'w.title': 'Yizhan · Counseling for workers',
  'w.hotline': 'Hotlines',
  'w.hotline.aria': 'See the 24-hour hotlines',
  'w.exit': 'Quick exit',
  'w.exit.aria': 'Quick exit: close this page now and clear it from this phone',
  'hl.title': '24-hour hotlines',
  'hl.lead': "If you're struggling right now, or worried about your own or someone else's safety, please call.",
  'hl.call': 'Call {phone}',
  'hl.emergency': 'If a life is in danger, call 120 or 110 now.',

  'w.banner.reconnecting': 'Weak connection. Reconnecting…',
  'w.banner.offline': "No network. We'll carry on once you're back online; nothing you wrote is lost.",
  'w.banner.back': 'Reconnected',

  'w.welcome.title': 'Tired? Stop by and rest a while',
  'w.welcome.lead': 'Trained counselors are here to talk with you, one to one, about work and life.',
  'w.welcome.free': 'Free',
  'w.welcome.free.d': 'No cost at all',
  'w.welcome.private': 'Confidential',
  'w.welcome.private.d': 'Conversations are stored encrypted',
  'w.welcome.anon': 'Anonymous',
  'w.welcome.anon.d': 'Counselors never see your name or ID number',
  'w.welcome.trained': 'Trained',
  'w.welcome.trained.d': 'Every counselor is professionally trained',
  'w.status.open': 'Open now',
  'w.status.open.wait': 'Open now · about {wait} wait',
  'w.status.open.none': 'Open, but no counselor is available right now',
  'w.status.closed': 'Closed now · opens {next}',
  'w.status.unknown': "Can't check the service right now. Hotlines are not affected",
  'w.status.hours': 'Hours: {hours}',
  'w.welcome.start': 'Get started',
  'w.welcome.later': 'Outside service hours',
  'w.urgent.title': 'Need help right now?',
  'w.urgent.body': '24-hour hotlines, always answered',

  'w.consent.title': 'Before you start',
  'w.consent.stored.t': 'What we keep',
  'w.consent.stored': 'Your messages, encrypted. No name. Your ID number only as a code that cannot be turned back.',
  'w.consent.who.t': 'Who can read it',
  'w.consent.who': "Only your counselor. A supervisor only when someone's safety is at risk.",
  'w.consent.limits.t': 'Limits of confidentiality',
  'w.consent.limits': "If your life or someone else's is in danger, we will contact emergency help, even if that means breaking confidentiality.",
  'w.consent.more': 'More details',
  'w.consent.more.1': 'After the conversation, the record is kept for a set period and then destroyed for good.',
  'w.consent.more.2': 'Your counselor writes a short note, also encrypted. Every time staff open a record, it is logged.',
  'w.consent.more.3': 'Afterwards you can rate the conversation to help us improve. It never affects future counseling.',
  'w.consent.more.4': '"Quick exit" in the top corner closes this page at once and clears traces on this phone.',
  'w.consent.more.5': 'This is not an emergency service. In an emergency call 120 or 110.',
  'w.consent.check': 'I understand and agree',
  'w.consent.next': 'Next',
  'w.consent.need': 'Please tick the box first',

  'w.signin.title': 'Confirm you can use the service',
  'w.signin.label': 'Resident ID or union card number',
  'w.signin.hint': 'The number only confirms you can use this service. Counselors never see it.',
  'w.signin.x': 'Type X',
  'w.signin.x.aria': 'Add the letter X at the end',
  'w.signin.ok': 'Looks right',
  'w.signin.err.empty': 'Please enter your number',
  'w.signin.err.bad_length': 'Wrong length: an ID number has 18 characters, a union card 16 to 19 digits.',
  'w.signin.err.bad_characters': 'Digits only; an ID number may end in X.',
  'w.signin.err.bad_checksum': 'One digit seems to be off. Please check it again.',
  'w.signin.err.bad_date': "The birth date in the ID number doesn't look right. Please check it.",
  'w.signin.history': 'See earlier conversations',
  'w.signin.pin.label': '8-digit recovery code',
  'w.signin.pin.hint': 'If you were given a recovery code, enter it to see earlier conversations. Otherwise leave it empty.',
  'w.signin.pin.err': 'The recovery code has 8 digits.',
  'w.signin.submit': 'Continue',
  'w.signin.submitting': 'Checking…',
  'w.signin.err.pin': "That code didn't match. Try again, or leave it empty to start a new conversation.",
  'w.signin.nopin': 'Continue without a code',
  'w.signin.err.consent': 'The notice has just been updated. Please read it again.',
  'w.signin.expired': 'For your safety, please confirm again.',

  'w.ready.title': 'Hello',
  'w.ready.alias': 'Here, your counselor will know you as “{alias}”.',
  'w.ready.body': "When you're ready, tap below and we'll find you a counselor.",
  'w.ready.request': 'Talk to a counselor',
  'w.ready.history': 'Earlier conversations',
  'w.ready.none': 'No counselor is online right now. You can still wait, or call a hotline first.',

  'w.wait.title': 'Finding you a counselor',
  'w.wait.position': '{n} ahead of you',
  'w.wait.next': "You're next",
  'w.wait.eta': 'About {wait}',
  'w.wait.eta.soon': 'Any moment now',
  'w.wait.none': "No counselor is available right now, and we can't say how long it will take. You can keep waiting, or call one of the hotlines below. They answer 24 hours a day.",
  'w.wait.expect': 'Once connected, your counselor will greet you first. Say whatever you like, at your own pace.',
  'w.wait.keep': 'You can switch apps; your place is kept for a minute.',
  'w.wait.draft.label': "Write what's on your mind (optional)",
  'w.wait.draft.hint': 'It will be sent to your counselor once you are connected.',
  'w.wait.draft.ph': "For example: I haven't been sleeping well…",
  'w.wait.leave': 'Leave the queue',
  'w.wait.leave.title': 'Leave the queue?',
  'w.wait.leave.body': 'Your place will go to someone else. You can come back whenever you like.',
  'w.wait.leave.confirm': 'Leave',
  'w.wait.leave.cancel': 'Keep waiting',

  'w.chat.counselor': 'Counselor {name}',
  'w.chat.connecting': 'Connecting…',
  'w.chat.log': 'Conversation',
  'w.chat.input.label': 'Message',
  'w.chat.ph': 'Type here…',
  'w.chat.send': 'Send',
  'w.chat.end': 'End',
  'w.chat.end.title': 'End this conversation?',
  'w.chat.end.body': "You won't be able to continue here. You can always come back.",
  'w.chat.end.confirm': 'End conversation',
  'w.chat.end.cancel': 'Keep talking',
  'w.chat.typing': '{name} is typing…',
  'w.chat.you': 'You',
  'w.chat.sending': 'Sending',
  'w.chat.sent': 'Sent',
  'w.chat.read': 'Read',
  'w.chat.failed': 'Not sent. Tap to retry',
  'w.chat.matched': '{name} has joined. You can start talking.',
  'w.chat.away': "Your counselor's connection dropped. Waiting for them to come back. Your messages are kept.",
  'w.chat.back': 'Your counselor is back.',
  'w.chat.requeue': "We're connecting you with another counselor. The conversation so far is kept.",
  'w.chat.requeue.pos': "We're connecting you with another counselor ({n} ahead of you).",
  'w.chat.ended.counselor': 'The counselor ended this conversation.',
  'w.chat.toolong': 'Up to 2,000 characters at a time. You can send it in parts.',
  'w.chat.closed': 'This conversation has ended.',
  'w.chat.supervisor': 'Supervisor',
  'w.chat.system': 'Yizhan',

  'w.after.title': 'Thank you for talking with us',
  'w.after.body': "It isn't easy to talk about these things. You took a step today.",
  'w.after.rate': 'How was this conversation?',
  'w.after.star': '{n} stars',
  'w.after.star.1': 'Not good',
  'w.after.star.5': 'Very helpful',
  'w.after.comment': 'Anything you would like to tell us (optional)',
  'w.after.submit': 'Submit',
  'w.after.thanks': 'Received. Thank you.',
  'w.after.need': 'Please choose a rating first.',
  'w.after.err': "Couldn't submit. Please try again.",
  'w.after.done': 'You have already rated this conversation. Thank you.',
  'w.after.again': 'Talk again',
  'w.after.pin.title': 'Want to read this again later?',
  'w.after.pin.body': 'We can give you an 8-digit recovery code. On a new phone, sign in with your ID number and this code to see earlier conversations. Without the code nobody can read them, even if they know your ID number.',
  'w.after.pin.replace': 'Making a new one stops your earlier code from working.',
  'w.after.pin.submit': 'Get a recovery code',
  'w.after.pin.ok': 'This is your recovery code. It is shown only once: write it on paper now and keep it safe; do not photograph or send it. If you lose it, you can get a new one after your next conversation.',
  'w.after.pin.locked': 'This phone has had no conversation yet, so it cannot get a code.',
  'w.selfhelp.title': 'Things you can try now',
  'w.selfhelp.1': 'Breathe slowly: in for 4, hold for 4, out for 6. Repeat 5 times.',
  'w.selfhelp.2': 'Sip some warm water, sit down, and feel your feet on the ground.',
  'w.selfhelp.3': "Send a message to someone you trust. It doesn't need to be long.",
  'w.selfhelp.4': 'Try to rest early tonight. Many things look different after sleep.',

  'w.closed.title': "We're resting right now",
  'w.closed.next': 'Counselors are back {next}.',
  'w.closed.hours': 'Hours: {hours}',
  'w.closed.urgent': 'Need someone to listen now? The hotlines below answer 24 hours a day.',
  'w.closed.refresh': 'Check again',
  'w.error.title': "Can't connect right now",
  'w.error.body': 'The network may be weak, or our service may have a problem. The hotlines are not affected and are always there.',
  'w.history.title': 'Earlier conversations',
  'w.history.empty': 'No earlier conversations yet.',
  'w.history.locked': 'A PIN, or the phone you used before, is needed to see earlier conversations.',
  'w.history.with': 'With {name}',
  'w.history.open': 'In progress',

  's.signin.title': 'Staff sign-in',
  's.signin.user': 'Username',
  's.signin.pass': 'Password',
  's.signin.submit': 'Sign in',
  's.signin.err': 'Wrong username or password.',
  's.signout': 'Sign out',
  's.risk.none': 'No risk',
  's.risk.watch': 'Watch',
  's.risk.high': 'High',
  's.risk.imminent': 'Imminent',
  's.unauthorized': 'Your session has ended. Please sign in again.',

  'c.title': 'Yizhan · Counselor console',
  'c.duty.on': 'On duty',
  'c.duty.off': 'Off duty',
  'c.duty.draining': 'Wrapping up',
  'c.duty.label': 'Duty status',
  'c.capacity': 'Load {load}/{cap}',
  'c.capacity.label': 'Conversations at once',
  'c.queue': '{n} waiting',
  'c.queue.longest': 'longest {wait}',
  'c.convs': 'Conversations',
  'c.convs.empty.off': 'You are off duty. Click "Off duty" at the top to start.',
  'c.convs.empty.on': 'Waiting for workers. New conversations appear here.',
  'c.tab.waiting': 'joined {t}',
  'c.tab.last': 'last {t}',
  'c.tab.unread': '{n} unread',
  'c.tab.ended': 'Note due',
  'c.tab.away': 'Disconnected',
  'c.chat.none': 'Choose a conversation on the left.',
  'c.chat.input.label': 'Reply',
  'c.chat.ph': 'Type a reply. Enter sends, Shift+Enter for a new line',
  'c.chat.send': 'Send',
  'c.chat.end': 'End conversation',
  'c.chat.end.title': 'End this conversation?',
  'c.chat.end.body': 'The worker will see it has ended and be invited to rate it.',
  'c.chat.end.confirm': 'End',
  'c.chat.worker_away': "The worker's connection dropped. Waiting for them to return.",
  'c.chat.worker_back': 'The worker is back.',
  'c.chat.handover': 'Handover: earlier messages were with another counselor.',
  'c.chat.ended': 'The conversation has ended.',
  'c.chat.typing': 'The worker is typing…',
  'c.from.worker': 'Worker',
  'c.from.counselor': 'You',
  'c.from.previous': 'Previous counselor',
  'c.from.supervisor': 'Supervisor',
  'c.from.system': 'System',
  'c.panel': 'This conversation',
  'c.risk': 'Risk level',
  'c.flag': 'Flag risk to supervisors',
  'c.flag.level': 'Risk level',
  'c.flag.reason': 'Reason (supervisors only)',
  'c.flag.send': 'Send flag',
  'c.flag.sent': 'Supervisors notified.',
  'c.flag.unsupported': 'Flagging is not wired yet. Please contact the supervisor on duty directly.',
  'c.flag.hint': 'Use when you see a risk of self-harm, suicide or violence.',
  'c.notes': 'Scratch notes',
  'c.notes.hint': 'Kept on this page only. Put them in the note at the end.',
  'c.whispers': 'Supervisor whispers',
  'c.whispers.hint': 'Only you see these. Never sent to the worker.',
  'c.whispers.empty': 'None yet.',
  'c.referral': 'Referral directory',
  'c.referral.hint': 'The full directory is coming. Common hotlines:',
  'c.note.title': 'Write the conversation note',
  'c.note.lead': 'Write the note before the next worker. It is stored encrypted.',
  'c.note.topics': 'Topics',
  'c.note.risk': 'Risk level',
  'c.note.text': 'Note',
  'c.note.submit': 'Save note',
  'c.note.saved': 'Note saved.',
  'c.note.pause': 'Take a break (pause intake)',
  'c.note.continue': 'Keep going',
  'c.note.err': 'Could not save. Please try again; your text is still here.',
  'c.topic.work': 'Work stress',
  'c.topic.sleep': 'Sleep',
  'c.topic.family': 'Family',
  'c.topic.relation': 'Relationships',
  'c.topic.wage': 'Pay and conditions',
  'c.topic.injury': 'Injury and health',
  'c.topic.mood': 'Low mood',
  'c.topic.anxiety': 'Anxiety',
  'c.topic.other': 'Other',
  'c.err.service_closed': 'Outside service hours: you cannot go on duty.',
  'c.err.not_on_duty': 'Go on duty first.',
  'c.err.conversation_closed': 'This conversation has ended.',
  'c.err.failed': 'Not sent. Click to retry',

  'v.title': 'Yizhan · Supervisor board',
  'v.escalations': 'Escalations',
  'v.escalations.empty': 'No escalations need attention right now.',
  'v.esc.deadline': 'acknowledge within {t}',
  'v.esc.overdue': 'overdue, not acknowledged',
  'v.queue': 'Queue',
  'v.queue.length': 'Waiting',
  'v.queue.longest': 'Longest wait',
  'v.queue.eta': 'Estimated wait',
  'v.service': 'Service',
  'v.service.open': 'Open, intake closes {close}',
  'v.service.closed': 'Closed, opens {next}',
  'v.counselors': 'Counselors on duty',
  'v.counselors.count': '{n} on duty',
  'v.counselors.detail': 'Per-counselor load is coming.',
  'v.counselors.empty': 'No counselor is on duty.',
  'v.risk': 'Conversations by risk',
  'v.followups': 'Follow-ups due today',
  'v.followups.empty': 'No follow-ups due today.',
  'v.ratings': 'Ratings',
  'v.ratings.empty': 'No ratings yet.',
  'v.sound.on': 'Sound: on',
  'v.sound.off': 'Sound: off',
  'v.updated': 'Updated {t}',
  'v.stale': 'May be out of date: not updated since {t}',
  'v.not_supervisor': 'This account is not a supervisor and cannot open the board.',
};

export const DICTS = { 'zh-CN': zh, en: en };

function readLang() {
  try {
    const v = localStorage.getItem(LANG_KEY);
    if (v === 'en' || v === 'zh-CN') return v;
  } catch (e) { /* storage may be blocked */ }
  return 'zh-CN';
}

let lang = readLang();
const listeners = [];

export function getLang() {
  return lang;
}

export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh-CN';
  try { localStorage.setItem(LANG_KEY, lang); } catch (e) { /* ignore */ }
  applyI18n(document);
  for (const fn of listeners) {
    try { fn(lang); } catch (e) { console.error(e); }
  }
}

export function toggleLang() {
  setLang(lang === 'en' ? 'zh-CN' : 'en');
}

export function onLangChange(fn) {
  listeners.push(fn);
}

export function t(key, params) {
  let s = (DICTS[lang] && DICTS[lang][key]);
  if (s === undefined) s = zh[key];
  if (s === undefined) return key;
  if (params) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (params[name] === undefined || params[name] === null ? m : String(params[name])));
  }
  return s;
}

export function applyI18n(root) {
  const r = root || document;
  document.documentElement.setAttribute('lang', lang === 'en' ? 'en' : 'zh-CN');
  for (const el of r.querySelectorAll('[data-i18n]')) el.textContent = t(el.getAttribute('data-i18n'));
  for (const el of r.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', t(el.getAttribute('data-i18n-placeholder')));
  for (const el of r.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.getAttribute('data-i18n-aria-label')));
  for (const el of r.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.getAttribute('data-i18n-title')));
  const titleKey = document.documentElement.getAttribute('data-title-key');
  if (titleKey) document.title = t(titleKey);
}

// ---- formatting: times are shown in the service's zone (Asia/Shanghai) ----

const TZ = 'Asia/Shanghai';
let partsFmt = null;
try {
  partsFmt = new Intl.DateTimeFormat('en-GB', {
    timeZone: TZ, year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false,
  });
} catch (e) { partsFmt = null; }

function parts(date) {
  if (partsFmt && partsFmt.formatToParts) {
    const out = {};
    for (const p of partsFmt.formatToParts(date)) out[p.type] = p.value;
    let hour = out.hour === '24' ? '00' : out.hour;
    return { y: +out.year, m: +out.month, d: +out.day, hh: hour, mm: out.minute };
  }
  const pad = (n) => ('0' + n).slice(-2);
  return { y: date.getFullYear(), m: date.getMonth() + 1, d: date.getDate(), hh: pad(date.getHours()), mm: pad(date.getMinutes()) };
}

function toDate(v) {
  if (!v) return null;
  const d = v instanceof Date ? v : new Date(v);
  return isNaN(d.getTime()) ? null : d;
}

/** "21:05" */
export function fmtClock(v) {
  const d = toDate(v);
  if (!d) return '';
  const p = parts(d);
  return p.hh + ':' + p.mm;
}

/** "今天 10:00" / "明天 10:00" / "12 月 1 日 10:00", relative to `now` (server time if known). */
export function fmtWhen(v, now) {
  const d = toDate(v);
  if (!d) return '';
  const n = toDate(now) || new Date();
  const a = parts(d);
  const b = parts(n);
  const dayA = Date.UTC(a.y, a.m - 1, a.d);
  const dayB = Date.UTC(b.y, b.m - 1, b.d);
  const diff = Math.round((dayA - dayB) / 86400000);
  const time = a.hh + ':' + a.mm;
  if (diff === 0) return t('when.today', { t: time });
  if (diff === 1) return t('when.tomorrow', { t: time });
  return t('when.date', { m: a.m, d: a.d, t: time });
}

/** 240 -> "4 分钟" ; rounds up so an estimate is never too hopeful. */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return '';
  const s = Math.max(0, Number(seconds));
  if (s < 60) return t('dur.lt1');
  const totalMin = Math.ceil(s / 60);
  if (totalMin < 60) return t('dur.min', { n: totalMin });
  return t('dur.hmin', { h: Math.floor(totalMin / 60), m: totalMin % 60 });
}

export function fmtHours(hours) {
  if (!hours || !hours.open || !hours.close) return '';
  return t('hours.daily', { open: hours.open, close: hours.close });
}
