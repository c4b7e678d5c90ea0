// The guided exercises (selfhelp/*.html): steps from the dictionaries, nothing stored.

import { wireChrome, h, clear, t, $$ } from './selfservice.js';
import { DICTS } from './i18n.js';

const zh = {
  'ex.note': '练习时感觉不舒服，随时停下来。这些练习不能代替专业帮助；如果痛苦一直不减轻，请找咨询师聊聊。',
  'ex.breathing.title': '4-6 呼吸：让身体慢下来',
  'ex.breathing.lead': '大约三分钟。紧张、心慌、睡不着的时候都可以做，站着坐着都行。',
  'ex.breathing.1': '找个能靠一下的地方，双脚平放在地上，肩膀放松。愿意的话，闭上眼睛，或者看着前方某一点。',
  'ex.breathing.2': '一只手放在肚子上。用鼻子慢慢吸气，心里数 1、2、3、4，感觉肚子轻轻鼓起来。',
  'ex.breathing.3': '嘴唇微微张开，慢慢呼气，数 1、2、3、4、5、6，感觉肚子慢慢落下去。呼气比吸气长一点，身体就会慢下来。',
  'ex.breathing.4': '跟着上面的圆圈：变大时吸气，变小时呼气。重复十次左右。',
  'ex.breathing.5': '走神了很正常，发现了就把注意力轻轻带回到数数上。',
  'ex.breathing.after': '做完后留意一下：肩膀、手和呼吸，和开始时比有什么不同？',
  'ex.grounding.title': '5-4-3-2-1 着陆练习',
  'ex.grounding.lead': '当情绪像潮水一样涌上来、脑子停不下来的时候，用五种感官把自己带回此时此地。',
  'ex.grounding.1': '看：说出你现在能看到的 5 样东西，比如墙上的钟、自己的鞋。',
  'ex.grounding.2': '摸：找出 4 样你能触摸到的东西，感受它们的温度和质地，比如衣服、桌面。',
  'ex.grounding.3': '听：留意 3 种你能听到的声音，远处的也算。',
  'ex.grounding.4': '闻：找出 2 种你能闻到的气味；闻不到，就想两种你喜欢的气味。',
  'ex.grounding.5': '尝：留意 1 种味道，可以喝一口水，或者只是感受嘴里的味道。',
  'ex.grounding.after': '最后慢慢呼吸三次，对自己说：我在这里，现在是安全的。',
  'ex.muscle.title': '渐进式肌肉放松',
  'ex.muscle.lead': '大约十分钟。下班后或睡前做，帮身体把一天的紧绷放下来。',
  'ex.muscle.1': '坐好或躺下，先做三次缓慢的呼吸。',
  'ex.muscle.2': '双脚：脚趾用力往下勾，保持 5 秒……然后一下子松开，感受放松 10 秒。',
  'ex.muscle.3': '小腿和大腿：绷紧腿部肌肉 5 秒，松开，感受沉下去的感觉。',
  'ex.muscle.4': '双手和手臂：握紧拳头、弯起手臂 5 秒，松开，让手自然垂下。',
  'ex.muscle.5': '肩膀：把肩膀耸向耳朵 5 秒，然后放下来。很多人的紧张都藏在这里。',
  'ex.muscle.6': '脸：皱紧眉头、闭紧眼睛、咬紧牙 5 秒，再全部放松。',
  'ex.muscle.7': '最后从头到脚感受一遍全身，哪里还紧，就对那里再做一次。',
  'ex.muscle.after': '有伤病或疼痛的部位不要用力，只想象它放松就好。',
};
const en = {
  'ex.note': 'Stop any time if it feels uncomfortable. These exercises do not replace professional help; if the pain does not ease, please talk to a counselor.',
  'ex.breathing.title': '4-6 breathing: slowing the body down',
  'ex.breathing.lead': 'About three minutes. Use it when tense, when your heart races or when you cannot sleep, sitting or standing.',
  'ex.breathing.1': 'Find something to lean on, feet flat on the floor, shoulders loose. Close your eyes if you like, or look at one point ahead.',
  'ex.breathing.2': 'Put a hand on your belly. Breathe in slowly through your nose counting 1, 2, 3, 4; feel your belly rise.',
  'ex.breathing.3': 'Lips slightly open, breathe out slowly counting 1 to 6; feel your belly fall. A longer out-breath slows the body down.',
  'ex.breathing.4': 'Follow the circle above: breathe in as it grows, out as it shrinks. About ten times.',
  'ex.breathing.5': 'Drifting off is normal; when you notice, gently bring your attention back to counting.',
  'ex.breathing.after': 'Afterwards, notice your shoulders, hands and breath: what changed since you began?',
  'ex.grounding.title': '5-4-3-2-1 grounding',
  'ex.grounding.lead': 'When feelings rush in and your mind will not stop, use your five senses to come back to here and now.',
  'ex.grounding.1': 'See: name 5 things you can see, like a clock on the wall or your shoes.',
  'ex.grounding.2': 'Touch: find 4 things you can touch; feel their warmth and texture.',
  'ex.grounding.3': 'Hear: notice 3 sounds, far ones count too.',
  'ex.grounding.4': 'Smell: find 2 smells; if there are none, think of two you like.',
  'ex.grounding.5': 'Taste: notice 1 taste — sip some water, or just notice your mouth.',
  'ex.grounding.after': 'Finish with three slow breaths and tell yourself: I am here, and right now I am safe.',
  'ex.muscle.title': 'Progressive muscle relaxation',
  'ex.muscle.lead': 'About ten minutes. After work or before sleep, to let go of the day’s tension.',
  'ex.muscle.1': 'Sit or lie down and take three slow breaths.',
  'ex.muscle.2': 'Feet: curl your toes hard for 5 seconds… then let go and feel the release for 10.',
  'ex.muscle.3': 'Legs: tense your calves and thighs for 5 seconds, let go, feel them grow heavy.',
  'ex.muscle.4': 'Hands and arms: make fists and bend your arms for 5 seconds, then let them drop.',
  'ex.muscle.5': 'Shoulders: raise them to your ears for 5 seconds, then drop them. Tension often hides here.',
  'ex.muscle.6': 'Face: frown, squeeze your eyes and clench your teeth for 5 seconds, then let go.',
  'ex.muscle.7': 'Sweep through your body from head to toe; wherever it is still tight, do that part again.',
  'ex.muscle.after': 'Do not tense injured or painful parts; just imagine them relaxing.',
};
Object.assign(DICTS['zh-CN'], zh);
Object.assign(DICTS.en, en);

function render() {
  for (const list of $$('[data-steps]')) {
    const slug = list.getAttribute('data-steps');
    clear(list);
    for (let i = 1; i <= 9; i++) {
      const key = 'ex.' + slug + '.' + i;
      if (t(key) === key) break;
      list.appendChild(h('li', { text: t(key) }));
    }
  }
}

render();
wireChrome(render);
